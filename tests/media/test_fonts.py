"""The bundled font and the one fontconfig set-up both libass users share."""

from __future__ import annotations

from pathlib import Path

from shotlist.media import fonts


def test_the_bundled_font_ships_with_the_package() -> None:
    assert fonts.FONT_FILE.is_file()
    assert fonts.FONT_FILE.parent == fonts.FONT_DIR


def test_the_configuration_sees_only_the_bundled_fonts_and_its_own_cache(tmp_path: Path) -> None:
    env = fonts.write_fontconfig(tmp_path)

    conf = Path(env["FONTCONFIG_FILE"])
    assert conf == tmp_path / fonts.FONTS_CONF_NAME
    text = conf.read_text(encoding="utf-8")
    assert f"<dir>{fonts.FONT_DIR}</dir>" in text
    assert f"<cachedir>{tmp_path / 'fontconfig-cache'}</cachedir>" in text
    assert "<include" not in text  # nothing from the machine's configuration


def test_folder_names_are_escaped_for_xml() -> None:
    text = fonts.fontconfig_text(Path("/tmp/a & <b>"), Path("/fonts/x&y"))

    assert "<cachedir>/tmp/a &amp; &lt;b&gt;</cachedir>" in text
    assert "<dir>/fonts/x&amp;y</dir>" in text
