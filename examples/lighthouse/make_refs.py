"""Re-create the lighthouse example's reference media with ffmpeg (committed as files too).

Run from anywhere: ``python examples/lighthouse/make_refs.py``. The media are
tiny and synthetic so the example renders anywhere, offline, in seconds.
"""

from __future__ import annotations

from pathlib import Path

from shotlist.media.ffmpeg import run_ffmpeg

REFS = Path(__file__).resolve().parent / "refs"

# A keeper in a yellow raincoat: a yellow body and a pale face against a grey-blue storm.
KEEPER = (
    "color=c=0x36465a:s=480x480:d=1,format=rgb24,"
    "geq=r='if(lt(hypot(X-240,Y-170),60),230,if(lt(abs(X-240),90)*between(Y,220,470),235,54+Y/8))':"
    "g='if(lt(hypot(X-240,Y-170),60),190,if(lt(abs(X-240),90)*between(Y,220,470),200,70+Y/10))':"
    "b='if(lt(hypot(X-240,Y-170),60),160,if(lt(abs(X-240),90)*between(Y,220,470),40,90+Y/9))'"
)
# A white tower with a red lantern on a dark cliff under a dusk sky.
TOWER = (
    "color=c=0x223355:s=640x360:d=1,format=rgb24,"
    "geq=r='if(gt(Y,300),40,if(between(X,300,340)*between(Y,90,300),235,if(between(X,292,348)*between(Y,60,90),220,60+Y/3)))':"
    "g='if(gt(Y,300),45,if(between(X,300,340)*between(Y,90,300),235,if(between(X,292,348)*between(Y,60,90),40,50+Y/5)))':"
    "b='if(gt(Y,300),40,if(between(X,300,340)*between(Y,90,300),230,if(between(X,292,348)*between(Y,60,90),30,110+Y/6)))'"
)


def main() -> None:
    REFS.mkdir(exist_ok=True)
    run_ffmpeg(
        ["-f", "lavfi", "-i", KEEPER, "-frames:v", "1", str(REFS / "keeper.png")],
        step="making keeper.png",
    )
    run_ffmpeg(
        ["-f", "lavfi", "-i", TOWER, "-frames:v", "1", "-q:v", "4", str(REFS / "lighthouse.jpg")],
        step="making lighthouse.jpg",
    )
    # Waves: moving blue-green noise, 3 s at 320x180, no sound.
    run_ffmpeg(
        [
            "-f",
            "lavfi",
            "-i",
            "cellauto=s=320x180:rule=110:rate=12:seed=7,format=yuv420p",
            "-vf",
            "colorchannelmixer=rr=0.1:gg=0.5:bb=0.8,boxblur=2",
            "-t",
            "3",
            "-c:v",
            "libx264",
            "-crf",
            "30",
            "-preset",
            "veryfast",
            "-pix_fmt",
            "yuv420p",
            "-an",
            str(REFS / "waves.mp4"),
        ],
        step="making waves.mp4",
    )
    # Theme: a slow minor arpeggio with a soft pad, 12 s, mono mp3.
    step = "mod(floor(t*2),4)"
    pitch = f"220*(1+0.189*eq({step},1)+0.498*eq({step},2)+0.335*eq({step},3))"
    theme = f"aevalsrc='0.25*sin(2*PI*t*{pitch})*exp(-2*mod(t,0.5))+0.08*sin(2*PI*110*t)':s=44100:d=12"
    run_ffmpeg(
        ["-f", "lavfi", "-i", theme, "-c:a", "libmp3lame", "-b:a", "64k", str(REFS / "theme.mp3")],
        step="making theme.mp3",
    )


if __name__ == "__main__":
    main()
