"""What the engine's jobs (transfer, visualize) and front doors share: the VGG and its weights
(vgg.py, weights.py, pastiche.py), images in and out (images.py), devices and memory
(devices.py), cancellation (cancel.py), the event reporters (reporters.py) and what a
stylisation returns in-process (stylize_result.py).

Nothing here imports a job or a front door (tests/engine/test_layout.py checks it).
"""
