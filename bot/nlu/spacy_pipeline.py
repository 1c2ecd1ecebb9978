"""The project's own spaCy pipeline, built from code (no model download).

Blank English tokenizer + lookup lemmatizer (tables from ``spacy-lookups-data``) +
an ``attribute_ruler`` that maps the misspellings and slang listed in
``data/nlp/lexicon.yml`` to one lemma. Saved with ``nlp.to_disk()``; Rasa's
``SpacyNLP`` loads it by path (see ``config.yml``).

    python -m bot.nlu.spacy_pipeline build build/spacy/helpline_en
"""
from __future__ import annotations

import argparse
import hashlib
import json
import sys
from functools import lru_cache
from pathlib import Path
from typing import Dict, List

import yaml

from bot import PROJECT_ROOT

LEXICON_PATH = PROJECT_ROOT / "data" / "nlp" / "lexicon.yml"
DEFAULT_OUTPUT = PROJECT_ROOT / "build" / "spacy" / "helpline_en"
PIPELINE_VERSION = "1"  # bump when the code below changes what the pipeline does


class LexiconError(ValueError):
    """The lexicon file is not in the documented shape."""


def load_lexicon(path: Path = LEXICON_PATH) -> Dict[str, List[str]]:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8")) or {}
    except yaml.YAMLError as exc:
        raise LexiconError(f"{path}: not valid YAML: {exc}") from exc
    if not isinstance(raw, dict):
        raise LexiconError(f"{path}: expected 'word: [variant, ...]' entries")
    lexicon: Dict[str, List[str]] = {}
    owner: Dict[str, str] = {}
    for canonical, variants in raw.items():
        if not isinstance(variants, list) or not all(isinstance(v, str) for v in variants):
            raise LexiconError(f"{path}: '{canonical}' must map to a list of words")
        for variant in variants:
            key = variant.strip().lower()
            if key in owner and owner[key] != canonical:
                raise LexiconError(
                    f"{path}: '{variant}' is listed under both '{owner[key]}' and '{canonical}'"
                )
            owner[key] = str(canonical)
        lexicon[str(canonical)] = sorted({v.strip().lower() for v in variants})
    return lexicon


def fingerprint(lexicon_path: Path = LEXICON_PATH) -> str:
    """Changes whenever the built pipeline would change."""
    import spacy
    import spacy_lookups_data

    digest = hashlib.sha256()
    digest.update(Path(lexicon_path).read_bytes())
    digest.update(Path(__file__).read_bytes())
    digest.update(f"{spacy.__version__}/{spacy_lookups_data.__version__}".encode())
    return digest.hexdigest()[:16]


def build_pipeline(lexicon_path: Path = LEXICON_PATH):
    """Return a fresh, initialised pipeline (used by the build and by tests)."""
    import spacy
    from spacy.symbols import ORTH

    nlp = spacy.blank("en")
    # spaCy splits "gonna" into "gon" + "na"; one word, so crisis token patterns can name it
    for spelling in ("gonna", "Gonna", "GONNA"):
        nlp.tokenizer.add_special_case(spelling, [{ORTH: spelling}])
    nlp.add_pipe("lemmatizer", config={"mode": "lookup"})
    ruler = nlp.add_pipe("attribute_ruler")
    nlp.initialize()
    for canonical, variants in load_lexicon(lexicon_path).items():
        for variant in variants:
            tokens = [t.lower_ for t in nlp.make_doc(variant)]
            pattern = [{"LOWER": token} for token in tokens]
            ruler.add([pattern], {"LEMMA": canonical, "NORM": canonical}, index=-1)
    nlp.meta["name"] = "helpline_en"
    nlp.meta["version"] = "1.0.0"
    nlp.meta["description"] = "Blank English + lookup lemmatizer + slang normalisation"
    nlp.meta["helpline_fingerprint"] = fingerprint(lexicon_path)
    return nlp


@lru_cache(maxsize=1)
def shared_pipeline():
    """One in-memory pipeline per process, for tools and tests."""
    return build_pipeline()


def is_current(output: Path) -> bool:
    meta = Path(output) / "meta.json"
    if not meta.exists():
        return False
    try:
        return json.loads(meta.read_text())["helpline_fingerprint"] == fingerprint()
    except (KeyError, ValueError):
        return False


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="build the pipeline if the lexicon or code changed")
    build.add_argument("output", nargs="?", default=str(DEFAULT_OUTPUT))
    build.add_argument("--force", action="store_true")
    args = parser.parse_args(argv)

    output = Path(args.output)
    if is_current(output) and not args.force:
        print(f"spaCy pipeline up to date: {output}")
        return 0
    try:
        nlp = build_pipeline()
    except LexiconError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    output.parent.mkdir(parents=True, exist_ok=True)
    nlp.to_disk(output)
    print(f"spaCy pipeline built: {output} ({', '.join(nlp.pipe_names)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
