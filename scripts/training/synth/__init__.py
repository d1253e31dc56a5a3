"""Synthetic plate data shared by the reader and detector trainings (put ``scripts/`` on ``sys.path``).

``plates.render_plate`` draws a flat plate with its reading; ``crops.make_crop`` turns it into a reader crop.
"""
