"""What several dashboard modules share: the threshold mode, error text, user text as text."""

from __future__ import annotations

import re
from typing import Any, Literal

__all__ = ["Mode", "describe_errors", "md_text"]


Mode = Literal["absolute", "percentile"]


def describe_errors(exc: BaseException) -> str:
    """The first line of an error's message (a row list, if any, is shown elsewhere)."""
    return str(exc).split("\n", 1)[0]


#: ASCII punctuation that Streamlit's Markdown (CommonMark, GFM autolinks, directives
#: such as ``:red[...]`` and ``:material/x:``, ``$`` maths) may read as syntax.
_MARKDOWN_SPECIAL = re.compile(r"""([\\`*_{}\[\]()#+\-.!|<>~$:&"'=/])""")


def md_text(value: Any) -> str:
    r"""``value`` as literal text inside Markdown: every special character backslash-escaped.

    Run names, symbols, column names and error text built from them come from users;
    interpolated into ``st.markdown``/``st.caption``/``st.error`` they must not become
    images (``![x](http://host/b.png)`` would make every viewer's browser fetch it), links,
    HTML, maths or colour directives. Line breaks become spaces.

    Examples
    --------
    >>> print(md_text("![x](http://h/b.png)"))
    \!\[x\]\(http\:\/\/h\/b\.png\)
    """
    text = str(value).replace("\r", " ").replace("\n", " ")
    return _MARKDOWN_SPECIAL.sub(r"\\\1", text)
