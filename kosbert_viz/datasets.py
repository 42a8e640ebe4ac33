"""The bundled sample corpus: short Korean reviews and posts written for this project.

>>> df = load_sample()
>>> df.columns.tolist(), len(df)
(['text', 'topic'], 480)
>>> df.topic.value_counts().size == len(SAMPLE_TOPICS)
True
"""

from __future__ import annotations

from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_sample", "SAMPLE_TOPICS"]

SAMPLE_TOPICS = ("배송", "환불", "앱오류", "음식", "여행", "금융", "건강", "교육", "날씨", "반려동물")


def load_sample() -> pd.DataFrame:
    """480 Korean texts across 10 everyday topics, with a ``topic`` label for each.

    The corpus has near-duplicates, very short or noisy lines (ㅋㅋ, emoji, typos)
    and a few mixed Korean-English lines, as real review data has. It is original
    writing for kosbert_viz (Apache-2.0, like the package).

    Returns a pandas DataFrame with columns ``text`` and ``topic``.
    """
    import pandas as pd

    with resources.files("kosbert_viz").joinpath("data/sample_ko.csv").open("r", encoding="utf-8") as fh:
        df = pd.read_csv(fh, dtype=str, keep_default_na=False)
    return df[["text", "topic"]]
