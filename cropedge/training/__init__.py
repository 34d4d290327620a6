"""Training wing: recipes, augmentation, the training loop, run folders and evaluation.

``recipe`` (settings, no TensorFlow) -> ``augment`` (tf.data maps) -> ``train`` (the loop,
on the ``distribute`` strategy) -> ``run`` (the finished folder, read back) ->
``evaluate`` (scores on target regions).
"""
