"""Which jobs an agent can run: the hardware it declares when it claims, against each job's
track (`track.hardware`). A job goes only to an agent of the track's accelerator kind with at
least the track's count of accelerators (processes, on CPU tracks) and, where the track names
a GPU model (`gpu_model_pattern`, e.g. "H100"), a GPU whose name contains it.

An agent that declares nothing (one from before agents declared hardware) is taken for a
CPU agent: it gets CPU jobs and never a GPU job. Its count, undeclared, is not checked on
CPU tracks (their count is processes, which any host can start) and counts as one GPU on
CUDA tracks; an undeclared GPU model matches no track that names one.
"""

from __future__ import annotations

from dataclasses import dataclass

from server.services import catalog
from speedrun.errors import TrackError
from speedrun.tracks import Hardware


@dataclass(frozen=True)
class AgentHardware:
    accelerator: str = "cpu"  # "cpu" | "cuda"
    count: int | None = None  # accelerators (CPU: cores it may use); None: not declared
    gpu_model: str | None = None  # e.g. "NVIDIA H100 80GB HBM3"

    def fits(self, hw: Hardware) -> bool:
        """True when this agent can run a job on hardware `hw`."""
        if hw.accelerator != self.accelerator:
            return False
        count = self.count if self.count is not None or self.accelerator == "cpu" else 1
        if count is not None and count < hw.count:
            return False
        pattern = hw.gpu_model_pattern
        return not pattern or (self.gpu_model is not None and pattern in self.gpu_model)


UNDECLARED = AgentHardware()


def fits_track(hardware: AgentHardware, track_id: str, version: int) -> bool:
    """Whether the agent can run jobs of this track version (an unknown track: never)."""
    try:
        track = catalog.track(track_id, version)
    except TrackError:
        return False
    return hardware.fits(track.hardware)
