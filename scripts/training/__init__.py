"""The project's training library: the synthetic generator, the data loaders, the model definitions and the
evaluation's matching and counting. The scripts beside this folder (train_*.py, eval_*.py, label_*.py) are thin
entry points over it; tests/training checks it without TensorFlow.

Import it with ``scripts/`` on ``sys.path`` (the entry points put it there): ``from training import reader_data``.
"""
