"""Recommendation reasons in another language than English.

The engine writes reasons from a small, fixed set of English templates
(:mod:`engine.explain_sources`, :func:`engine.recommend.recommend`'s cold start);
:func:`localize_reason` maps each template to the same sentence in another language,
keeping the quoted parts (a title, a query) as they are. A text that matches no
template is returned unchanged, so a new English template shows up in English rather
than being dropped.
"""

from __future__ import annotations

import re
from collections.abc import Callable

LANGUAGES = ("en", "zh")

# Scene names producers commonly use; any other scene is shown as sent.
_ZH_SCENES = {"home": "首页", "search": "搜索", "cart": "购物车", "video": "视频",
              "product": "商品页", "detail": "商品页", "checkout": "结算页", "feed": "推荐流"}


def _zh_age(age: str) -> str:
    """An age from :func:`engine.explain_sources.format_age` in Chinese.

    >>> [_zh_age(a) for a in ("just now", "5 min ago", "2 h ago", "1 day ago", "3 days ago")]
    ['刚刚', '5分钟前', '2小时前', '1天前', '3天前']
    """
    if age == "just now":
        return "刚刚"
    match = re.fullmatch(r"(\d+) (min|h|day|days) ago", age)
    if match is None:
        return age
    unit = {"min": "分钟", "h": "小时", "day": "天", "days": "天"}[match.group(2)]
    return f"{match.group(1)}{unit}前"


_ZH: list[tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = [
    (re.compile(r"because you searched '(.*)' (just now|\d+ (?:min|h|day|days) ago)"),
     lambda m: f"因为你{_zh_age(m.group(2))}搜索了「{m.group(1)}」"),
    (re.compile(r"similar to (.*)"), lambda m: f"与「{m.group(1)}」相似"),
    (re.compile(r"bought together with (.*)"), lambda m: f"常与「{m.group(1)}」一起购买"),
    (re.compile(r"often viewed with (.*)"), lambda m: f"常与「{m.group(1)}」一起浏览"),
    (re.compile(r"trending in (.*)"), lambda m: f"{_ZH_SCENES.get(m.group(1), m.group(1))}热门"),
    (re.compile(r"trending now"), lambda m: "当前热门"),
    (re.compile(r"matches your interests"), lambda m: "符合你的兴趣"),
]


def localize_reason(reason: str, language: str) -> str:
    """``reason`` (one of the engine's English templates) in ``language``.

    >>> localize_reason("because you searched '跑鞋' just now", "zh")
    '因为你刚刚搜索了「跑鞋」'
    >>> localize_reason("similar to 防水越野跑鞋", "zh")
    '与「防水越野跑鞋」相似'
    >>> localize_reason("trending in home", "zh")
    '首页热门'
    >>> localize_reason("similar to Ceramic mug", "en")
    'similar to Ceramic mug'
    """
    if language == "en":
        return reason
    if language != "zh":
        raise ValueError(f"reason language must be one of {', '.join(LANGUAGES)}, got {language!r}")
    for pattern, render in _ZH:
        match = pattern.fullmatch(reason)
        if match is not None:
            return render(match)
    return reason
