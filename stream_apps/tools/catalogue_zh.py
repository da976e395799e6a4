"""The demo's Chinese catalogue (``streamrec demo --lang zh``).

Generated like the English one (:mod:`stream_apps.tools.catalogue`) from hand-written
vocabularies, reproducible from a seed. Titles are space-separated keywords, as Chinese
shops write them ("踏峰 防水 越野跑鞋"): the product kind last, an attribute before it,
so the traffic simulator searches the way people do ("防水 越野跑鞋", "越野跑鞋").

The generated file ships as ``stream_apps/tools/data/catalogue_zh.jsonl``; regenerate with::

    python -m stream_apps.tools.catalogue_zh
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_N = 1200
DEFAULT_SEED = 20261201
DATA_FILE = "catalogue_zh.jsonl"


@dataclass(frozen=True)
class Sub:
    name: str                 # also the product kind that ends every title
    variants: tuple[str, ...]  # what follows the kind after " - "
    uses: tuple[str, ...]
    materials: tuple[str, ...]
    features: tuple[str, ...]
    price: tuple[float, float]


@dataclass(frozen=True)
class Top:
    name: str
    brands: tuple[str, ...]
    attrs: tuple[str, ...]
    subs: tuple[Sub, ...]


CATEGORIES: tuple[Top, ...] = (
    Top("运动鞋服", ("踏峰", "疾风", "远行者", "飞跃", "山野", "步云"),
        ("防水", "轻量", "缓震", "透气", "防滑", "耐磨"), (
        Sub("越野跑鞋", ("男款", "女款", "宽楦版"), ("山地越野", "泥泞林道", "长距离越野赛"),
            ("防水透气膜", "耐磨网布"), ("防石板", "深齿大底"), (399, 1299)),
        Sub("公路跑鞋", ("男款", "女款", "经典配色"), ("日常慢跑", "马拉松训练", "城市夜跑"),
            ("针织鞋面", "氮气发泡中底"), ("反光条", "回弹中底"), (299, 999)),
        Sub("运动速干T恤", ("黑色", "白色", "藏青色"), ("健身训练", "跑步", "户外徒步"),
            ("速干面料", "冰丝面料"), ("排汗透气", "防晒"), (79, 259)),
    )),
    Top("数码电子", ("华芯", "极光", "云帆", "星途", "墨子", "青檬"),
        ("轻薄", "高性能", "长续航", "旗舰", "入门", "商务"), (
        Sub("笔记本电脑", ("16GB内存", "32GB内存", "1TB固态"), ("办公学习", "游戏娱乐", "视频剪辑"),
            ("铝合金机身", "高色域屏幕"), ("背光键盘", "指纹解锁"), (3999, 12999)),
        Sub("蓝牙耳机", ("白色", "黑色", "限定版"), ("通勤降噪", "运动健身", "通话会议"),
            ("入耳式设计", "亲肤硅胶耳塞"), ("主动降噪", "无线充电盒"), (199, 1499)),
        Sub("智能手机", ("128GB", "256GB", "512GB"), ("拍照摄影", "手游", "日常使用"),
            ("玻璃后盖", "曲面屏"), ("双摄像头", "快充"), (1499, 6999)),
    )),
    Top("咖啡与茶", ("山谷", "晨光", "云岭", "茶语", "豆坊", "南山"),
        ("有机", "精选", "手工", "特级", "新鲜烘焙", "高山"), (
        Sub("咖啡豆", ("250克", "500克", "1公斤"), ("意式浓缩", "手冲咖啡", "冷萃咖啡"),
            ("阿拉比卡豆", "云南小粒咖啡"), ("深度烘焙", "果香明亮"), (49, 199)),
        Sub("咖啡机", ("家用款", "商用款", "胶囊款"), ("在家做拿铁", "办公室", "早晨一杯浓缩"),
            ("不锈钢机身", "陶瓷磨芯"), ("蒸汽奶泡", "一键萃取"), (599, 4999)),
        Sub("绿茶", ("罐装", "礼盒装", "袋泡"), ("日常冲泡", "送礼", "下午茶"),
            ("明前嫩芽", "高山茶园"), ("清香回甘", "手工炒制"), (59, 599)),
    )),
    Top("厨房用品", ("好厨", "炊烟", "铁匠铺", "美味家", "匠心", "小灶"),
        ("不锈钢", "加厚", "家用", "多功能", "大容量", "无涂层"), (
        Sub("不粘锅", ("28厘米", "30厘米", "32厘米"), ("煎炒", "煎蛋", "少油烹饪"),
            ("麦饭石涂层", "复合锅底"), ("电磁炉通用", "防烫手柄"), (99, 399)),
        Sub("电饭煲", ("3升", "4升", "5升"), ("煮饭", "煲汤", "预约做早餐"),
            ("球釜内胆", "不锈钢外壳"), ("智能预约", "保温功能"), (199, 999)),
        Sub("厨房刀具套装", ("五件套", "七件套", "带刀座"), ("切菜", "切肉", "日常烹饪"),
            ("大马士革钢", "实木刀座"), ("锋利耐用", "防滑刀柄"), (149, 899)),
    )),
    Top("美妆护肤", ("花间", "水漾", "雪肌", "初语", "素颜", "柔光"),
        ("保湿", "温和", "持久", "清爽", "滋润", "修护"), (
        Sub("面霜", ("50毫升", "旅行装", "套装"), ("干性皮肤", "敏感肌", "秋冬护肤"),
            ("玻尿酸", "神经酰胺"), ("深层补水", "修护屏障"), (99, 699)),
        Sub("口红", ("正红色", "豆沙色", "枫叶色"), ("日常通勤", "约会", "派对"),
            ("哑光质地", "丝绒质地"), ("不易脱色", "显白"), (89, 399)),
        Sub("防晒霜", ("SPF50", "50毫升", "喷雾款"), ("户外运动", "海边度假", "日常通勤"),
            ("物理防晒", "轻薄乳液"), ("防水防汗", "不油腻"), (69, 299)),
    )),
    Top("图书", ("星河出版社", "青石书局", "远方文库", "光年图书", "知行出版", "松风书屋"),
        ("经典", "畅销", "精装", "插图版", "全新修订", "获奖"), (
        Sub("科幻小说", ("平装", "精装", "电子书"), ("周末阅读", "通勤路上", "读书会讨论"),
            ("宏大的宇宙设定", "硬核科学细节"), ("火星殖民", "人工智能觉醒"), (29, 89)),
        Sub("儿童绘本", ("平装", "精装", "点读版"), ("亲子共读", "睡前故事", "幼儿启蒙"),
            ("手绘插画", "厚纸板书页"), ("恐龙冒险", "认识颜色"), (19, 79)),
        Sub("历史读物", ("平装", "精装", "套装"), ("了解古代文明", "假期阅读", "送给历史爱好者"),
            ("大量史料", "生动叙述"), ("丝绸之路", "唐宋风华"), (39, 129)),
    )),
    Top("户外露营", ("远山", "野径", "营地", "北极星", "苍穹", "行者"),
        ("防水", "轻量化", "便携", "加厚", "四季", "速开"), (
        Sub("露营帐篷", ("双人", "三人", "四人"), ("家庭露营", "徒步登山", "海边过夜"),
            ("防撕裂面料", "铝合金帐杆"), ("双层防雨", "通风窗"), (299, 1999)),
        Sub("睡袋", ("信封式", "木乃伊式", "加长款"), ("冬季露营", "高海拔徒步", "自驾旅行"),
            ("鹅绒填充", "中空棉"), ("可拼接", "压缩收纳袋"), (199, 1299)),
        Sub("登山背包", ("40升", "50升", "65升"), ("多日徒步", "登山", "长途旅行"),
            ("尼龙面料", "透气背板"), ("防雨罩", "腰带承重"), (299, 1499)),
    )),
    Top("母婴玩具", ("童趣", "小树苗", "乐宝", "贝贝熊", "奇思", "萌芽"),
        ("益智", "安全", "环保", "大颗粒", "可水洗", "早教"), (
        Sub("积木", ("100块", "300块", "城市系列"), ("动手能力", "亲子游戏", "幼儿园"),
            ("榉木", "食品级塑料"), ("圆角打磨", "收纳盒"), (59, 399)),
        Sub("婴儿推车", ("轻便款", "高景观款", "双向款"), ("日常出行", "旅行登机", "公园散步"),
            ("铝合金车架", "透气坐垫"), ("一键折叠", "避震车轮"), (499, 2999)),
        Sub("毛绒玩具", ("小号", "中号", "大号"), ("安抚陪睡", "生日礼物", "房间装饰"),
            ("短毛绒", "PP棉填充"), ("可机洗", "柔软亲肤"), (39, 199)),
    )),
)


def _pick(rng: np.random.Generator, seq: Sequence[str]) -> str:
    return seq[int(rng.integers(len(seq)))]


def _item(rng: np.random.Generator, top: Top) -> tuple[str, str, str, float]:
    sub = top.subs[int(rng.integers(len(top.subs)))]
    brand, attr = _pick(rng, top.brands), _pick(rng, top.attrs)
    title = f"{brand} {attr} {sub.name} - {_pick(rng, sub.variants)}"
    desc = (f"这款{attr}{sub.name}专为{_pick(rng, sub.uses)}设计，采用{_pick(rng, sub.materials)}，"
            f"特点是{_pick(rng, sub.features)}。{brand}出品。")
    lo, hi = sub.price
    price = float(round(rng.uniform(lo, hi)) - 0.01)
    return title, desc, sub.name, price


def generate_catalogue_zh(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """``n`` Chinese item messages, identical for the same ``(n, seed)``; titles unique."""
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    seen: set[str] = set()
    items: list[dict[str, Any]] = []
    width = max(5, len(str(n)))
    for number in range(1, n + 1):
        top = CATEGORIES[int(rng.integers(len(CATEGORIES)))]
        for _attempt in range(30):
            title, desc, sub, price = _item(rng, top)
            if title not in seen:
                break
        else:  # the vocabulary ran out of combinations: number the repeat
            title = f"{title} {number}"
        seen.add(title)
        items.append({"item_id": f"zh-{number:0{width}d}", "title": title, "description": desc,
                      "categories": [top.name, sub], "available": True, "price": price})
    return items


def load_builtin_catalogue_zh() -> list[dict[str, Any]]:
    """The Chinese catalogue shipped in the package."""
    text = resources.files("stream_apps.tools").joinpath("data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the shipped Chinese catalogue file."""
    parser = argparse.ArgumentParser(prog="python -m stream_apps.tools.catalogue_zh", description=main.__doc__)
    parser.add_argument("--n", type=int, default=DEFAULT_N)
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "data" / DATA_FILE)
    args = parser.parse_args(argv)
    items = generate_catalogue_zh(args.n, args.seed)
    args.out.write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items), encoding="utf-8")
    print(f"wrote {len(items)} items to {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
