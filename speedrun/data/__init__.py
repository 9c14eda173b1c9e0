"""A track's data: the `.bin` shard format (shards), the synthetic language behind the CPU
tracks (synth), the digests of a data folder (sums), building or downloading a track's files
(fetch, hub), and the deployment's held-out secret (heldout). No module here imports torch."""
