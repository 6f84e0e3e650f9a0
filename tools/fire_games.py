"""Which Atari games wait for FIRE: the evidence behind `fire_reset: true` in conf/env/<game>.yaml.

For every game of the suite whose minimal action set has FIRE, play two policies that never choose
FIRE themselves (always NOOP) under the 30-minute cap (108,000 frames), from the same seed:
  never:  nothing else;
  forced: FIRE pressed once after the start and after every lost life (the env's fire_reset).
A game "waits for FIRE" when `never` runs to the cap while `forced` reaches a game over: a policy
that never fires would stall it forever. Games that stall under both (the player is simply safe
standing still) or under neither do not need it. Writes results/fire_games.csv and prints the list.

    python tools/fire_games.py [--games breakout,pong]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

CAP = 108_000


def play(game: str, forced: bool, seed: int = 0) -> tuple[int, bool]:
    """Frames played and whether the game ended before the cap, acting NOOP every frame."""
    from ale_py import ALEInterface, LoggerMode, roms

    ALEInterface.setLoggerMode(LoggerMode.Error)
    ale = ALEInterface()
    ale.setInt("random_seed", seed)
    ale.setFloat("repeat_action_probability", 0.0)
    ale.setInt("max_num_frames_per_episode", CAP)
    ale.loadROM(roms.get_rom_path(game))
    actions = ale.getMinimalActionSet()
    noop, fire = actions[0], actions[1]
    lives = ale.lives()
    if forced:
        ale.act(fire)
    while not ale.game_over():
        ale.act(noop)
        if forced and ale.lives() < lives and not ale.game_over():
            ale.act(fire)
        lives = ale.lives()
    frames = ale.getEpisodeFrameNumber()
    return frames, not ale.game_truncated()


def main() -> None:
    from asyncrl.envs import atari_games
    from ale_py.env import AtariEnv

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--games", default="", help="comma-separated ALE ids (default: all 57)")
    parser.add_argument("--out", type=Path, default=Path("results/fire_games.csv"))
    args = parser.parse_args()
    games = args.games.split(",") if args.games else atari_games()
    rows = []
    for game in games:
        meanings = AtariEnv(game=game).get_action_meanings()
        if len(meanings) < 2 or meanings[1] != "FIRE":
            rows.append({"game": game, "has_fire": "FIRE" in meanings, "never_frames": "", "never_ended": "",
                         "forced_frames": "", "forced_ended": "", "waits_for_fire": False})
            continue
        nf, ne = play(game, forced=False)
        ff, fe = play(game, forced=True)
        rows.append({"game": game, "has_fire": True, "never_frames": nf, "never_ended": ne,
                     "forced_frames": ff, "forced_ended": fe, "waits_for_fire": (not ne) and fe})
        print(f"{game:20s} never: {nf:>7} frames ended={ne!s:5}  forced: {ff:>7} frames ended={fe!s:5}"
              f"  waits_for_fire={rows[-1]['waits_for_fire']}", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    print("waits for FIRE:", ", ".join(r["game"] for r in rows if r["waits_for_fire"]) or "none")


if __name__ == "__main__":
    main()
