"""Tools beside the run: things a user does before or after `brillsson run`, not stages of it.

- `train_teacher`: train a stand-in teacher with TRILLsson's interface when TRILLsson is out
  of reach (`brillsson train-teacher`).
- `scale_benchmark`: the README's "Data at scale" figures (peak memory at 1x and 10x a corpus,
  decode, teacher and training throughput).

The run's own modules never import this package.
"""
