"""The bundled font, and the fontconfig set-up that makes libass draw with it alone.

Both places that draw text go through libass: the local previz engine's
captions (the ``ass`` filter) and the cut's burnt-in subtitles (the
``subtitles`` filter). libass asks fontconfig for fonts, and with the
machine's configuration the same text renders differently wherever other
fonts or rendering settings are installed, or not at all on a machine
without fonts. So both point ``FONTCONFIG_FILE`` at a configuration that
sees only ``shotlist/assets/fonts``.
"""

from __future__ import annotations

from pathlib import Path
from xml.sax.saxutils import escape

FONT_DIR = Path(__file__).resolve().parents[1] / "assets" / "fonts"
FONT_FILE = FONT_DIR / "DejaVuSans.ttf"
FONT_FAMILY = "DejaVu Sans"  # the family name inside FONT_FILE
FONTS_CONF_NAME = "fonts.conf"


def fontconfig_text(cache_dir: Path, font_dir: Path = FONT_DIR) -> str:
    """A fontconfig configuration that sees only the fonts in ``font_dir``.

    ``cache_dir`` is where fontconfig may keep its cache: somewhere of ours, so
    that no system cache (built with other settings) is read.
    """
    return (
        '<?xml version="1.0"?>\n'
        '<!DOCTYPE fontconfig SYSTEM "urn:fontconfig:fonts.dtd">\n'
        "<fontconfig>\n"
        f"  <dir>{escape(str(font_dir))}</dir>\n"
        f"  <cachedir>{escape(str(cache_dir))}</cachedir>\n"
        "</fontconfig>\n"
    )


def fontconfig_env(conf: Path) -> dict[str, str]:
    """What to add to ffmpeg's environment so libass reads the configuration at ``conf``."""
    return {"FONTCONFIG_FILE": str(conf)}


def write_fontconfig(folder: Path, font_dir: Path = FONT_DIR) -> dict[str, str]:
    """Write the configuration (and room for its cache) into ``folder``; returns ffmpeg's env."""
    conf = folder / FONTS_CONF_NAME
    conf.write_text(fontconfig_text(folder / "fontconfig-cache", font_dir), encoding="utf-8")
    return fontconfig_env(conf)
