"""Tools beside the run: things a user does before or after `brillsson run`, not stages of it.

- `train_teacher`: train a stand-in teacher with TRILLsson's interface when TRILLsson is out
  of reach (`brillsson train-teacher`).

The run's own modules never import this package.
"""
