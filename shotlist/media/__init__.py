"""Everything that touches ffmpeg, one module per job.

- ``ffmpeg``: finding the executable and running it (blocking, async, capturing).
- ``probe``: reading media with PyAV (what a file holds, decoding, packet splicing).
- ``graph``: building filter graphs and command lines with ffmpeg-python, and the
  one escaping rule for filter values and paths.
- ``fonts``: the bundled font and the fontconfig set-up libass renders with.
"""
