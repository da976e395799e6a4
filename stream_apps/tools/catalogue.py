"""The demo's built-in product catalogue.

Items are generated procedurally from hand-written vocabularies (brands, product nouns,
attributes, materials, uses), so the data is ours to ship and reproducible from a seed.
Each top category has its own vocabulary so that sentence embeddings of
``title + description`` cluster by top category; the recommender demo relies on that.

The generated file ships as ``stream_apps/tools/data/catalogue.jsonl``; regenerate it with::

    python -m stream_apps.tools.catalogue            # n=3000, seed=DEFAULT_SEED

Every line is an item message::

    {"item_id": "sku-00001", "title": ..., "description": ..., "categories": [top, sub],
     "available": true, "price": 59.99}
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import numpy as np

DEFAULT_N = 3000
DEFAULT_SEED = 20241122
DATA_FILE = "catalogue.jsonl"

_T = TypeVar("_T")


@dataclass(frozen=True)
class SubCategory:
    """A sub category: product nouns, what they are for, what they are made of, a price range."""

    name: str
    nouns: tuple[str, ...]
    uses: tuple[str, ...]
    price: tuple[float, float]
    materials: tuple[str, ...]
    features: tuple[str, ...]
    # Empty means "use the top category's list"; set where the shared words would be silly
    # (a "Dark Roast Espresso Machine").
    attrs: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    suffixes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Category:
    """A top category: brands, model names, fallback attributes, sentences true of all its items."""

    name: str
    brands: tuple[str, ...]
    models: tuple[str, ...]
    attrs: tuple[str, ...]
    details: tuple[str, ...]
    subs: tuple[SubCategory, ...]
    suffixes: tuple[str, ...] = ()
    weight: float = 1.0


@dataclass(frozen=True)
class BookGenre:
    """Books get their own generator: a book's title is not "brand + attribute + noun"."""

    name: str
    label: str
    title_adjs: tuple[str, ...]
    title_nouns: tuple[str, ...]
    title_patterns: tuple[str, ...]
    blurbs: tuple[str, ...]
    premises: tuple[str, ...]
    price: tuple[float, float]


def _sub(
    name: str,
    nouns: Sequence[str],
    uses: Sequence[str],
    price: tuple[float, float],
    *,
    materials: Sequence[str],
    features: Sequence[str],
    attrs: Sequence[str] = (),
    details: Sequence[str] = (),
    suffixes: Sequence[str] = (),
) -> SubCategory:
    return SubCategory(name, tuple(nouns), tuple(uses), price, tuple(materials), tuple(features),
                       tuple(attrs), tuple(details), tuple(suffixes))


CATEGORIES: tuple[Category, ...] = (
    Category(
        name="running shoes",
        brands=("Trailhawk", "Stridex", "Velora", "Pacefield", "Norvik", "Altura", "Ridgeline",
                "Swiftmark", "Onward", "Kestrel"),
        models=("GTX", "Pro 3", "Glide 5", "Tempo", "Apex", "Flow 2", "Summit", "Edge",
                "Vantage 4", "Racer X", "Nimbus", "Surge"),
        attrs=("Waterproof", "Lightweight", "Cushioned", "Breathable", "Wide-Fit", "Stability",
               "Neutral", "Reflective", "Responsive", "Max-Cushion"),
        details=("Runners who log high weekly mileage will appreciate the durable build.",
                 "It fits true to size with a snug heel and room for toes to splay.",
                 "Tested over thousands of kilometers by club runners and marathoners."),
        subs=(
            _sub("trail running shoes",
                 ("Trail Running Shoe", "Trail Runner", "Mountain Running Shoe", "Fell Running Shoe"),
                 ("muddy forest trails", "technical mountain descents",
                  "ultramarathon training on rocky trails", "wet and loose singletrack"),
                 (90, 180),
                 materials=("a Gore-Tex membrane", "an abrasion-resistant mesh upper",
                            "a sticky rubber outsole with 5 mm lugs"),
                 features=("a protective rock plate", "a lugged outsole", "a gusseted tongue",
                           "a secure lace pocket"),
                 details=("The grippy outsole holds on wet rock and loose gravel.",
                          "A gusseted tongue keeps trail debris out of the shoe.")),
            _sub("road running shoes",
                 ("Road Running Shoe", "Daily Trainer", "Running Sneaker", "Long-Run Trainer"),
                 ("daily miles on pavement", "marathon training blocks", "easy recovery runs",
                  "city running on asphalt"),
                 (70, 170),
                 materials=("breathable engineered mesh", "a recycled knit upper",
                            "responsive nitrogen-infused foam"),
                 features=("a cushioned midsole", "a padded heel collar", "a smooth rocker geometry",
                           "reflective heel details"),
                 details=("The foam midsole returns energy with every stride.",
                          "Reflective overlays keep you visible on early morning runs.",
                          "An 8 mm heel-to-toe drop keeps your running stride natural.")),
            _sub("racing shoes",
                 ("Racing Shoe", "Racing Flat", "Marathon Racer", "Track Spike"),
                 ("race day from 5K to marathon", "tempo runs and interval sessions",
                  "track intervals", "chasing a running personal best"),
                 (110, 260),
                 attrs=("Carbon-Plated", "Featherweight", "Responsive", "Aggressive", "Race-Day", "Elite"),
                 materials=("a full-length carbon fiber plate", "supercritical foam", "a featherlight mono-mesh upper"),
                 features=("a propulsive rocker", "a minimal rubber outsole", "a race-fit heel"),
                 details=("Built to help you hold marathon pace when your legs start to fade.",)),
            _sub("walking shoes",
                 ("Walking Shoe", "Fitness Walking Shoe", "Recovery Shoe"),
                 ("all-day walking", "brisk morning walks", "recovery days after hard runs"),
                 (55, 130),
                 attrs=("Cushioned", "Slip-On", "Wide-Fit", "Lightweight", "Supportive", "Breathable"),
                 materials=("soft knit mesh", "plush recovery foam", "a leather-trimmed upper"),
                 features=("a supportive arch", "a roomy toe box", "a padded collar"),
                 details=("Comfortable from the first walk, with no break-in needed.",)),
            _sub("running socks & insoles",
                 ("Running Socks 3-Pack", "Cushioned Running Insole", "Compression Running Sock",
                  "Anti-Blister Running Sock"),
                 ("long runs in hot weather", "preventing blisters on race day",
                  "extra arch support while running"),
                 (12, 45),
                 attrs=("Moisture-Wicking", "Cushioned", "Seamless", "Compression", "Merino", "No-Show"),
                 materials=("moisture-wicking merino wool", "seamless nylon knit", "shock-absorbing gel foam"),
                 features=("a seamless toe", "targeted arch compression", "a deep heel cup"),
                 details=("Slips into any running shoe for a more comfortable run.",)),
        ),
        suffixes=("Men's", "Women's", "Unisex"),
        weight=1.1,
    ),
    Category(
        name="hiking & camping",
        brands=("Ridgecrest", "Northpine", "Alpenfold", "Basecamp Co.", "Talus", "Cairnline",
                "Wildmere", "Summitwise", "Granite Peak", "Boreal Trek"),
        models=("Ascent", "Trek 40", "Expedition", "Ranger", "Nomad", "Alpine", "Backcountry",
                "Horizon", "Switchback", "Tundra"),
        attrs=("Ultralight", "Waterproof", "Packable", "Rugged", "Compact", "Windproof", "Trail-Ready"),
        details=("The trail-tested design has been refined by long-distance hikers.",
                 "Built to shrug off wind, rain and abrasion in the backcountry.",
                 "It packs down small enough to leave room in your pack for the rest of your camping gear."),
        subs=(
            _sub("backpacks",
                 ("Hiking Backpack", "Daypack", "Trekking Rucksack", "Hydration Pack", "Backpacking Pack"),
                 ("day hikes in the mountains", "multi-day backpacking trips", "thru-hiking long trails",
                  "summit pushes above the treeline"),
                 (45, 260),
                 materials=("ripstop nylon", "water-resistant 600D polyester", "recycled Dyneema fabric"),
                 features=("a ventilated back panel", "an adjustable hip belt", "compression straps",
                           "a hydration sleeve")),
            _sub("tents & shelters",
                 ("Backpacking Tent", "Camping Tent", "Bivy Shelter", "Hammock Tent", "Tarp Shelter"),
                 ("wild camping on exposed ridges", "family campground weekends",
                  "solo backcountry nights", "stormy alpine camps"),
                 (60, 480),
                 attrs=("Ultralight", "Waterproof", "3-Season", "4-Season", "Freestanding", "2-Person"),
                 materials=("silicone-coated ripstop nylon", "aluminum tent poles", "a bathtub polyester floor"),
                 features=("a full-coverage rain fly", "taped seams", "two vestibules for gear"),
                 details=("Taped seams and a full rain fly keep you dry through mountain storms at camp.",)),
            _sub("sleeping bags & pads",
                 ("Sleeping Bag", "Down Mummy Bag", "Sleeping Pad", "Inflatable Camping Mat", "Camp Pillow"),
                 ("cold nights at altitude", "summer camping under the stars", "winter backpacking"),
                 (25, 320),
                 attrs=("Ultralight", "Insulated", "3-Season", "Packable", "Self-Inflating", "Winter"),
                 materials=("700-fill responsibly sourced down", "synthetic insulation", "brushed polyester"),
                 features=("a draft collar", "a stuff sack", "a two-way zipper", "a reflective heat layer")),
            _sub("trekking poles & navigation",
                 ("Trekking Poles", "Hiking Compass", "Handheld GPS Navigator", "Hiking Staff"),
                 ("steep descents on rocky hiking trails", "navigating off-trail routes in the wilderness",
                  "river crossings and scree slopes"),
                 (20, 350),
                 materials=("lightweight carbon fiber", "aircraft-grade aluminum", "cork grips"),
                 features=("flip-lock adjusters", "a sighting mirror", "preloaded topographic maps",
                           "carbide tips")),
            _sub("camp lighting & stoves",
                 ("Headlamp", "Camp Lantern", "Backpacking Stove", "Camp Cook Set"),
                 ("pre-dawn starts on the hiking trail", "cooking dinner at camp",
                  "late nights around the campsite"),
                 (15, 140),
                 attrs=("Rechargeable", "Ultralight", "Compact", "Windproof", "Nesting", "Dimmable"),
                 materials=("hard-anodized aluminum", "titanium", "impact-resistant polycarbonate"),
                 features=("a red night-vision mode", "a piezo igniter", "USB-C charging", "a simmer control")),
        ),
        suffixes=("Forest Green", "Slate", "Ember Orange"),
    ),
    Category(
        name="kitchen",
        brands=("Copperfield", "Hearth & Hone", "Maison Verte", "Culinaire", "Oakbrook Kitchen",
                "Saltworks", "Bellacucina", "Ironwood", "Zestra", "Larder & Co."),
        models=("Classic", "Pro Series", "Signature", "Heritage", "Everyday", "Artisan",
                "Prep Master", "Home Chef"),
        attrs=("Dishwasher-Safe", "Heavy-Duty", "Professional", "Everyday"),
        details=("A kitchen workhorse that home cooks reach for every day.",
                 "Makes a thoughtful gift for anyone who loves to cook.",
                 "Backed by a lifetime warranty against kitchen mishaps."),
        subs=(
            _sub("cookware",
                 ("Frying Pan", "Dutch Oven", "Saucepan", "Stockpot", "Wok", "Saute Pan", "Cookware Set"),
                 ("searing steaks and stir-fries", "slow-braised stews and soups",
                  "weeknight family dinners", "simmering pasta sauces"),
                 (25, 320),
                 attrs=("Nonstick", "Cast Iron", "Stainless Steel", "Enameled", "Ceramic", "Induction-Ready",
                        "Oven-Safe", "Carbon Steel"),
                 materials=("tri-ply stainless steel", "pre-seasoned cast iron", "a PFAS-free ceramic coating",
                            "hard-anodized aluminum"),
                 features=("a riveted stay-cool handle", "an even-heating aluminum core", "a tight-fitting lid",
                           "drip-free pouring rims"),
                 details=("Heats evenly on gas, electric and induction cooktops.",
                          "Safe in the oven up to 260 C for finishing dishes.")),
            _sub("knives & cutting boards",
                 ("Chef's Knife", "Santoku Knife", "Knife Block Set", "Bread Knife", "Cutting Board",
                  "Paring Knife"),
                 ("dicing onions and herbs", "slicing crusty sourdough", "everyday meal prep",
                  "carving holiday roasts"),
                 (15, 260),
                 attrs=("Forged", "Japanese-Style", "Razor-Sharp", "Full-Tang", "Damascus", "Professional"),
                 materials=("high-carbon German steel", "67-layer Damascus steel", "FSC-certified acacia wood",
                            "end-grain walnut"),
                 features=("a full-tang blade", "an ergonomic pakkawood handle", "a juice groove",
                           "a hand-honed 15-degree edge"),
                 details=("The balanced weight makes long meal prep sessions comfortable.",)),
            _sub("bakeware",
                 ("Baking Sheet", "Loaf Pan", "Cake Pan", "Muffin Tin", "Pie Dish", "Cooling Rack"),
                 ("baking cookies and sheet-pan dinners", "homemade bread and banana loaves",
                  "birthday cakes", "holiday pies"),
                 (12, 70),
                 attrs=("Nonstick", "Heavy-Duty", "Aluminized Steel", "Silicone", "Stoneware", "Warp-Resistant"),
                 materials=("aluminized steel", "glazed stoneware", "food-grade silicone", "borosilicate glass"),
                 features=("rolled edges", "an easy-release coating", "wide handles for oven mitts")),
            _sub("small appliances",
                 ("Stand Mixer", "Blender", "Food Processor", "Air Fryer", "Slow Cooker", "Toaster"),
                 ("kneading bread dough", "smoothies and frozen drinks", "crispy fries without the oil",
                  "set-and-forget weeknight meals"),
                 (35, 450),
                 attrs=("Compact", "High-Speed", "Programmable", "Digital", "Stainless Steel", "Quiet"),
                 materials=("brushed stainless steel", "BPA-free Tritan", "a die-cast metal housing"),
                 features=("a 1200-watt motor", "one-touch presets", "a digital timer", "a dishwasher-safe bowl")),
            _sub("kitchen utensils",
                 ("Spatula Set", "Silicone Whisk", "Measuring Cup Set", "Mixing Bowl Set", "Kitchen Tongs",
                  "Vegetable Peeler"),
                 ("everyday cooking and baking", "flipping pancakes and eggs", "tossing salads"),
                 (8, 50),
                 attrs=("Silicone", "Heat-Resistant", "Stainless Steel", "Nesting", "Nonslip", "Dishwasher-Safe"),
                 materials=("food-grade silicone", "18/10 stainless steel", "olive wood"),
                 features=("heat-resistant edges", "nonslip feet", "a hanging loop", "etched measurements")),
        ),
    ),
    Category(
        name="coffee & tea",
        brands=("Roastwell", "Bean & Ember", "Crema Lab", "Highland Roasters", "Brewhouse",
                "Kettle & Leaf", "Morning Ritual", "Ristretto Co.", "Tealeaf Garden", "Black Rock Coffee"),
        models=("Origin", "Barista", "Daybreak", "Reserve", "Slow Pour", "Artisan", "Classico", "Nordic"),
        attrs=("Premium", "Barista-Grade", "Specialty"),
        details=("A daily ritual for people who take their coffee and tea seriously.",
                 "Makes cafe-quality brews without leaving the house."),
        subs=(
            _sub("coffee beans",
                 ("Whole Bean Coffee", "Ground Coffee", "Espresso Roast Coffee", "Coffee Blend",
                  "Cold Brew Coffee"),
                 ("a bold morning espresso", "smooth pour-over coffee", "French press brewing",
                  "homemade cold brew coffee"),
                 (9, 32),
                 attrs=("Organic", "Dark Roast", "Medium Roast", "Light Roast", "Decaf", "Fair Trade",
                        "Ethiopian Yirgacheffe", "Colombian", "Sumatra", "Guatemalan"),
                 materials=("arabica beans roasted in small batches", "shade-grown arabica beans",
                            "single-origin washed coffee beans"),
                 features=("notes of dark chocolate and cherry", "a syrupy body and caramel finish",
                           "bright citrus acidity"),
                 details=("Freshly roasted and packed in a bag with a one-way valve to lock in aroma.",
                          "Coffee lovers will taste the difference from the first sip."),
                 suffixes=("12 oz", "2 lb Bag", "1 lb Bag")),
            _sub("espresso machines",
                 ("Espresso Machine", "Milk Frother", "Capsule Coffee Maker", "Espresso Maker"),
                 ("cafe-style lattes and cappuccinos at home", "pulling espresso shots every morning",
                  "silky microfoam for latte art"),
                 (80, 900),
                 attrs=("Semi-Automatic", "Dual Boiler", "15-Bar", "Compact", "Stainless Steel",
                        "Super-Automatic"),
                 materials=("brushed stainless steel", "a commercial-style brass group head"),
                 features=("a steam wand for milk", "PID temperature control", "a built-in pressure gauge"),
                 details=("Pulls rich espresso shots with a thick layer of crema.",)),
            _sub("coffee grinders",
                 ("Burr Coffee Grinder", "Hand Coffee Grinder", "Conical Burr Grinder", "Espresso Grinder"),
                 ("dialing in espresso grind size", "fresh coffee grounds for pour-over",
                  "coarse grinds for French press coffee"),
                 (25, 350),
                 attrs=("Conical", "Flat Burr", "Stepless", "Manual", "Electric", "Low-Retention"),
                 materials=("hardened steel burrs", "ceramic burrs", "an aluminum body"),
                 features=("40 grind settings", "a dose timer", "an anti-static grounds cup")),
            _sub("coffee brewers",
                 ("Pour-Over Coffee Dripper", "French Press", "Drip Coffee Maker", "Cold Brew Maker",
                  "Gooseneck Kettle", "Moka Pot"),
                 ("slow pour-over coffee mornings", "brewing a full pot of coffee for the office",
                  "overnight cold brew"),
                 (18, 220),
                 attrs=("Glass", "Programmable", "Insulated", "Stovetop", "Temperature-Control", "Thermal"),
                 materials=("heat-resistant borosilicate glass", "stainless steel", "glazed ceramic"),
                 features=("precise temperature control", "a fine-mesh coffee filter", "an auto shut-off timer",
                           "a double-walled carafe")),
            _sub("tea",
                 ("Loose Leaf Green Tea", "Earl Grey Tea", "Chai Tea Blend", "Matcha Powder",
                  "Herbal Tea Sampler", "Oolong Tea"),
                 ("a calming evening cup of tea", "afternoon tea with friends",
                  "whisking a frothy matcha latte"),
                 (7, 40),
                 attrs=("Organic", "Ceremonial Grade", "Caffeine-Free", "Jasmine", "Smoky", "First Flush"),
                 materials=("hand-picked tea leaves", "whole leaf tea from high-altitude gardens",
                            "stone-ground shade-grown tea leaves"),
                 features=("a floral aroma", "a smooth, honeyed finish", "warming spices"),
                 details=("Steep for three minutes for a perfectly balanced cup of tea.",),
                 suffixes=("50 Tea Bags", "100 g Tin", "Loose Leaf Pouch")),
        ),
        weight=0.9,
    ),
    Category(
        name="headphones & audio",
        brands=("Sonance", "Auralis", "Bassline", "Echofield", "Quietwave", "Resonix", "Harmonic Labs",
                "Vinylux", "Tonewood Audio", "Pulse Acoustics"),
        models=("Studio", "ANC 700", "Air", "Pro", "Max", "Live", "Mini", "Bass+", "Reference", "Tour"),
        attrs=("Wireless", "Bluetooth", "Hi-Res", "Portable", "Studio-Grade", "Hi-Fi"),
        details=("Deep, controlled bass and crisp highs bring every track to life.",
                 "Tuned by audio engineers for balanced, natural sound.",
                 "Music, podcasts and movies all sound clear and detailed."),
        subs=(
            _sub("over-ear headphones",
                 ("Over-Ear Headphones", "Studio Monitor Headphones", "Gaming Headset", "On-Ear Headphones"),
                 ("long flights and noisy commutes", "mixing and mastering music tracks",
                  "immersive gaming sessions", "focused music listening at home"),
                 (45, 450),
                 attrs=("Wireless", "Noise-Cancelling", "Bluetooth", "Open-Back", "Closed-Back", "Hi-Res"),
                 materials=("memory foam ear cushions", "40 mm dynamic drivers", "an aluminum headband"),
                 features=("active noise cancellation", "30-hour battery life", "a detachable boom microphone",
                           "multipoint Bluetooth pairing"),
                 details=("Transparency mode lets you hear announcements without removing your headphones.",)),
            _sub("earbuds",
                 ("True Wireless Earbuds", "Sport Earbuds", "In-Ear Monitors", "Sleep Earbuds"),
                 ("calls on the go", "podcasts on the commute", "music in the gym",
                  "drowning out a snoring partner"),
                 (25, 280),
                 attrs=("Wireless", "Noise-Cancelling", "Sweatproof", "Low-Latency", "Bluetooth", "Hi-Res"),
                 materials=("soft silicone ear tips", "graphene drivers", "an IPX5-rated shell"),
                 features=("a pocketable charging case", "touch controls", "fast charging"),
                 details=("Fast charging gives an hour of music from a five-minute top-up.",)),
            _sub("speakers",
                 ("Bluetooth Speaker", "Smart Speaker", "Bookshelf Speakers", "Party Speaker", "Soundbar"),
                 ("backyard parties", "filling a living room with music", "movie nights with cinematic sound"),
                 (30, 600),
                 attrs=("Wireless", "Waterproof", "Portable", "Bluetooth", "Voice-Controlled", "Powered"),
                 materials=("a walnut wood cabinet", "a rugged fabric-wrapped body", "dual passive radiators"),
                 features=("360-degree sound", "a built-in voice assistant", "stereo pairing",
                           "Dolby Atmos support")),
            _sub("turntables & hi-fi",
                 ("Turntable", "Stereo Amplifier", "DAC and Headphone Amp", "Phono Preamp"),
                 ("spinning vinyl records", "building a home hi-fi system", "lossless music streaming"),
                 (70, 800),
                 attrs=("Belt-Drive", "Audiophile", "Hi-Res", "Bluetooth", "Class-A", "Vintage-Style"),
                 materials=("a solid MDF plinth", "a brushed aluminum faceplate", "audiophile-grade capacitors"),
                 features=("a moving-magnet cartridge", "a built-in phono stage", "balanced XLR outputs")),
        ),
        suffixes=("Black", "Silver", "Midnight Blue"),
    ),
    Category(
        name="cameras & photography",
        brands=("Lumora", "Aperture Works", "Fotonix", "Brightfield", "Vantage Optics", "Kairo",
                "Silverhalide", "Framecraft", "Optiq", "Northlight"),
        models=("X-100", "Z5", "Alpha", "Vista", "M2", "Pro II", "Street", "Travel", "35", "Action 4K"),
        attrs=("Compact", "Professional", "Lightweight", "Weather-Sealed"),
        details=("Photographers and videographers alike will appreciate the thoughtful design.",
                 "Compact enough to carry on every photo walk."),
        subs=(
            _sub("cameras",
                 ("Mirrorless Camera", "Digital SLR Camera", "Instant Camera", "Compact Camera", "Film Camera"),
                 ("street photography", "landscape photography at golden hour", "travel vlogging",
                  "portrait photo sessions"),
                 (150, 2400),
                 attrs=("Full-Frame", "APS-C", "4K", "Weather-Sealed", "High-Resolution", "Vlogging", "Retro"),
                 materials=("a magnesium alloy body", "weather-sealed construction", "a leatherette grip"),
                 features=("in-body image stabilization", "eye-detection autofocus", "a 24-megapixel sensor",
                           "a flip-out touchscreen", "10-bit 4K video recording"),
                 details=("Captures sharp, detailed photos even in low light.",
                          "Shoots RAW image files that hold detail in highlights and shadows.")),
            _sub("lenses",
                 ("50mm f/1.8 Prime Lens", "24-70mm Zoom Lens", "Macro Lens", "Telephoto Zoom Lens",
                  "Wide-Angle Lens"),
                 ("portraits with creamy background blur", "wildlife and sports photography",
                  "close-up macro photography", "astrophotography of the night sky"),
                 (120, 1800),
                 attrs=("Fast", "Weather-Sealed", "Stabilized", "Lightweight", "Professional", "Autofocus"),
                 materials=("multi-coated optical glass", "a metal lens mount", "aspherical lens elements"),
                 features=("a silent stepping autofocus motor", "optical image stabilization", "a 9-blade aperture"),
                 details=("Autofocus locks onto eyes and keeps moving subjects sharp.",)),
            _sub("tripods & gimbals",
                 ("Travel Tripod", "Camera Gimbal", "Monopod", "Tabletop Tripod"),
                 ("long-exposure night photography", "smooth handheld video", "time-lapse photography"),
                 (25, 400),
                 attrs=("Carbon", "Compact", "Lightweight", "3-Axis", "Heavy-Duty", "Travel"),
                 materials=("carbon fiber legs", "CNC-machined aluminum", "a ball head with Arca-Swiss clamp"),
                 features=("a quick-release camera plate", "twist leg locks", "a bubble level")),
            _sub("action cameras & drones",
                 ("Action Camera", "Camera Drone", "Dash Camera", "360 Camera"),
                 ("aerial photography", "filming ski runs and surf sessions", "recording video of road trips"),
                 (90, 1200),
                 attrs=("4K", "Waterproof", "Foldable", "Stabilized", "GPS", "Compact"),
                 materials=("a rugged waterproof housing", "a 1-inch image sensor", "a scratch-resistant lens cover"),
                 features=("electronic image stabilization", "obstacle avoidance sensors", "5.3K video recording")),
            _sub("camera bags & accessories",
                 ("Camera Backpack", "Camera Sling Bag", "SD Memory Card", "Lens Filter Kit", "Camera Strap"),
                 ("carrying camera gear on photo walks", "protecting lenses while traveling",
                  "shooting burst photos in RAW"),
                 (15, 220),
                 attrs=("Padded", "Weatherproof", "High-Speed", "Quick-Release", "Compact", "Professional"),
                 materials=("padded water-resistant nylon", "optical-grade glass", "full-grain leather"),
                 features=("customizable camera dividers", "fast write speeds for 4K video", "side access zippers")),
        ),
    ),
    Category(
        name="gardening",
        brands=("Greenthumb", "Rootwell", "Bloom & Bough", "Verdant Yard", "Seedsmith", "Fernhill",
                "Meadowlark Garden", "Terra Firma", "Sproutly", "Old Oak Garden"),
        models=("Heritage", "Pro", "Grow", "Harvest", "Classic", "Patio", "Urban", "Allotment"),
        attrs=("Ergonomic", "Heavy-Duty", "Weatherproof", "Garden-Grade"),
        details=("Great for beginner gardeners and seasoned growers alike.",
                 "Perfect for small yards, balconies and allotment plots.",
                 "Built to last season after season in the garden."),
        subs=(
            _sub("seeds & bulbs",
                 ("Tomato Seed Collection", "Wildflower Seed Mix", "Herb Garden Seed Kit", "Tulip Bulbs",
                  "Vegetable Seed Variety Pack", "Sunflower Seeds"),
                 ("spring vegetable beds", "attracting bees and butterflies to the garden",
                  "a windowsill herb garden"),
                 (4, 35),
                 attrs=("Heirloom", "Organic", "Non-GMO", "Pollinator-Friendly", "Frost-Hardy", "Dwarf"),
                 materials=("open-pollinated seeds", "hand-selected flower bulbs", "untreated seeds"),
                 features=("high germination rates", "planting instructions for each variety",
                           "a mix of early and late bloomers"),
                 details=("Sow in spring for blooms and harvests all summer long.",)),
            _sub("garden tools",
                 ("Pruning Shears", "Garden Trowel", "Hedge Trimmer", "Garden Hoe", "Digging Spade",
                  "Weeding Tool"),
                 ("pruning roses and shrubs", "planting seedlings in raised beds",
                  "clearing weeds from flower borders"),
                 (12, 180),
                 attrs=("Ergonomic", "Stainless Steel", "Cordless", "Heavy-Duty", "Forged", "Telescopic"),
                 materials=("rust-resistant carbon steel", "forged stainless steel", "an ash wood handle"),
                 features=("a cushioned non-slip grip", "a bypass cutting blade", "a safety lock")),
            _sub("planters & raised beds",
                 ("Raised Garden Bed", "Terracotta Planter", "Hanging Basket", "Grow Bag Set",
                  "Window Box Planter"),
                 ("growing vegetables on a balcony", "patio herb gardens", "container gardening"),
                 (15, 260),
                 attrs=("Self-Watering", "Raised", "Frost-Proof", "Modular", "Elevated", "Recycled"),
                 materials=("untreated cedar wood", "natural terracotta clay", "UV-stabilized resin",
                            "breathable felt fabric"),
                 features=("drainage holes", "a self-watering reservoir", "reinforced corners")),
            _sub("watering & irrigation",
                 ("Garden Hose", "Drip Irrigation Kit", "Watering Can", "Hose Nozzle", "Lawn Sprinkler"),
                 ("watering lawns and flower beds", "keeping vegetable beds evenly moist",
                  "getting the garden through a summer drought"),
                 (10, 140),
                 attrs=("Expandable", "Kink-Free", "Adjustable", "Solar-Powered", "Lightweight", "Heavy-Duty"),
                 materials=("kink-free rubber", "solid brass fittings", "galvanized steel"),
                 features=("adjustable spray patterns", "a programmable water timer", "a long watering spout")),
            _sub("soil & plant care",
                 ("Potting Soil", "Organic Compost", "Plant Fertilizer", "Bark Mulch", "Seed Starting Mix"),
                 ("feeding hungry tomato plants", "starting seeds indoors", "improving heavy clay soil"),
                 (8, 45),
                 attrs=("Organic", "Peat-Free", "Slow-Release", "All-Purpose", "Premium", "Nutrient-Rich"),
                 materials=("peat-free organic matter", "composted bark and worm castings", "seaweed extract"),
                 features=("added mycorrhizal fungi", "balanced NPK nutrients", "excellent drainage"),
                 details=("Helps plants establish strong roots and healthy foliage.",)),
        ),
    ),
    Category(
        name="toys",
        brands=("Wonderblock", "Tinkertown", "Little Explorer", "Brickwell", "Cuddlebug", "Zoomzoom",
                "Playnest", "Bright Sparks", "Puddle Jump", "Starfish Kids"),
        models=("Junior", "Adventure", "Mega", "Mini", "Classic", "Deluxe", "Discovery", "Rainbow"),
        attrs=("Educational", "Interactive", "Colorful", "Kids'"),
        details=("Makes a great birthday or holiday gift for kids.",
                 "Kids can play alone or with siblings and friends.",
                 "Safety tested for children to meet toy safety standards."),
        subs=(
            _sub("building sets",
                 ("Building Block Set", "Magnetic Tiles Set", "Marble Run", "Construction Kit",
                  "Wooden Train Set"),
                 ("creative play for kids ages 4 and up", "rainy afternoons indoors",
                  "kids building castles and bridges"),
                 (15, 120),
                 attrs=("Magnetic", "Wooden", "Educational", "STEM", "Glow-in-the-Dark", "Creative"),
                 materials=("durable ABS plastic", "sustainably sourced beech wood", "non-toxic water-based paint"),
                 features=("over 100 pieces", "a storage bin", "a step-by-step picture guide"),
                 details=("Encourages fine motor skills, creativity and problem solving in kids.",)),
            _sub("plush & dolls",
                 ("Plush Teddy Bear", "Stuffed Unicorn", "Baby Doll", "Dollhouse", "Plush Dinosaur"),
                 ("bedtime cuddles", "imaginative pretend play", "a toddler's first friend"),
                 (10, 140),
                 attrs=("Plush", "Cuddly", "Huggable", "Wooden", "Talking", "Washable"),
                 materials=("ultra-soft polyester plush", "sustainably sourced beech wood", "organic cotton"),
                 features=("embroidered eyes safe for toddlers", "a removable outfit", "tiny furniture pieces")),
            _sub("remote control & vehicles",
                 ("RC Car", "Monster Truck", "Race Car Track Set", "Toy Helicopter", "Toy Fire Truck"),
                 ("backyard races with friends", "kids who love speed", "indoor racing on the playroom floor"),
                 (15, 150),
                 attrs=("Remote Control", "Off-Road", "High-Speed", "Rechargeable", "Die-Cast", "Light-Up"),
                 materials=("durable ABS plastic", "die-cast metal", "shock-absorbing rubber tires"),
                 features=("an easy-grip controller", "sound and light effects", "a rechargeable battery"),
                 details=("Batteries are included so playtime starts right out of the box.",)),
            _sub("STEM & science kits",
                 ("Science Experiment Kit", "Coding Robot", "Crystal Growing Kit", "Kids Microscope",
                  "Volcano Kit"),
                 ("curious young scientists", "kids learning to code through play",
                  "homeschool science lessons"),
                 (18, 130),
                 attrs=("STEM", "Educational", "Hands-On", "Programmable", "Kids'", "Beginner"),
                 materials=("kid-safe lab equipment", "durable ABS plastic", "real glass lenses"),
                 features=("an illustrated experiment guide", "a free coding app", "over 30 experiments")),
            _sub("outdoor play",
                 ("Kids Scooter", "Water Blaster", "Bubble Machine", "Play Tent", "Sandbox Toy Set"),
                 ("summer backyard fun for kids", "playground afternoons", "beach days with the kids"),
                 (10, 120),
                 attrs=("Foldable", "Light-Up", "Kids'", "Pop-Up", "Adjustable", "Colorful"),
                 materials=("BPA-free plastic", "weather-resistant polyester", "a lightweight aluminum frame"),
                 features=("light-up wheels", "a large water tank", "an adjustable handlebar")),
        ),
    ),
    Category(
        name="yoga & fitness",
        brands=("Zenflow", "Corestrong", "Lotus Path", "Ironform", "Flexa", "Balance Lab", "Vitalmotion",
                "Asana Living", "Peakform", "Kinetic Studio"),
        models=("Pro", "Studio", "Flow", "Core", "Elite", "Home Gym", "Essential", "Align"),
        attrs=("Adjustable", "Compact", "Heavy-Duty", "Lightweight"),
        details=("Suitable for beginners and experienced athletes alike.",
                 "Helps you build strength, balance and flexibility.",
                 "A staple for yoga studios, gyms and home workouts."),
        subs=(
            _sub("yoga mats & props",
                 ("Yoga Mat", "Yoga Block Set", "Yoga Strap", "Meditation Cushion", "Yoga Wheel"),
                 ("hot yoga classes", "vinyasa flow at home", "deep stretches and restorative yoga poses",
                  "daily meditation"),
                 (12, 130),
                 attrs=("Non-Slip", "Extra-Thick", "Eco-Friendly", "Cork", "Travel", "Reversible"),
                 materials=("natural tree rubber", "eco-friendly TPE foam", "sustainable cork", "organic cotton"),
                 features=("alignment lines", "a carry strap", "a moisture-wicking top layer"),
                 details=("Offers grip and cushioning for every yoga pose from downward dog to warrior.",)),
            _sub("strength training",
                 ("Dumbbell Set", "Kettlebell", "Adjustable Dumbbells", "Weight Bench", "Pull-Up Bar",
                  "Barbell Weight Plates"),
                 ("home strength workouts", "full-body HIIT circuits", "building muscle in a home gym"),
                 (20, 450),
                 attrs=("Adjustable", "Hex", "Heavy-Duty", "Rubber-Coated", "Compact", "Competition"),
                 materials=("cast iron with a vinyl coating", "solid steel", "rubber-coated iron"),
                 features=("a knurled grip", "quick-change weight dials", "a stable wide base")),
            _sub("resistance & recovery",
                 ("Resistance Bands Set", "Foam Roller", "Massage Gun", "Stretching Strap", "Mini Loop Bands"),
                 ("post-workout muscle recovery", "physical therapy exercises", "loosening tight hamstrings"),
                 (10, 220),
                 attrs=("Anti-Snap", "High-Density", "Vibrating", "Portable", "Textured", "Quiet"),
                 materials=("natural latex", "high-density EVA foam", "a brushless motor"),
                 features=("five resistance levels", "a textured massage surface", "a travel pouch")),
            _sub("cardio equipment",
                 ("Rowing Machine", "Walking Pad", "Speed Jump Rope", "Stair Stepper", "Elliptical Trainer"),
                 ("cardio workouts in a small apartment", "burning calories at home",
                  "low-impact conditioning workouts"),
                 (15, 1200),
                 attrs=("Foldable", "Magnetic", "Quiet", "Compact", "Smart", "Under-Desk"),
                 materials=("a steel frame", "magnetic resistance", "a cushioned deck"),
                 features=("an LCD workout monitor", "Bluetooth app tracking", "transport wheels")),
            _sub("fitness accessories",
                 ("Workout Gloves", "Gym Bag", "Fitness Tracker", "Ab Roller", "Exercise Ball"),
                 ("core workouts", "gym training sessions", "tracking workouts and heart rate"),
                 (10, 150),
                 attrs=("Anti-Burst", "Padded", "Waterproof", "Breathable", "Lightweight", "Durable"),
                 materials=("anti-burst PVC", "breathable neoprene", "water-resistant polyester"),
                 features=("heart rate tracking", "padded palms", "a ventilated shoe compartment")),
        ),
    ),
    Category(
        name="cycling",
        brands=("Velocita", "Spokeline", "Chainring Co.", "Crankworx Gear", "Roadmaster Velo", "Pedalworks",
                "Gravelhaus", "Apex Cycle", "Freewheel", "Col du Vent"),
        models=("Aero", "Gravel", "Endurance", "Sprint", "Climb", "Commuter", "Enduro", "Carbon SL"),
        attrs=("Lightweight", "Aero", "Carbon", "Reflective"),
        details=("A favorite for club rides, sportives and bike commuting.",
                 "Designed by riders who put thousands of kilometers on the bike each year."),
        subs=(
            _sub("bikes",
                 ("Road Bike", "Gravel Bike", "Mountain Bike", "Electric Bike", "Folding Bike",
                  "Hybrid Commuter Bike"),
                 ("fast group rides on tarmac", "mixed-surface gravel adventures", "downhill singletrack riding",
                  "daily commutes across the city by bike"),
                 (350, 3500),
                 attrs=("Carbon", "Aluminum", "Full-Suspension", "Hardtail", "Endurance", "Aero"),
                 materials=("a carbon fiber frame", "a butted aluminum alloy frame", "a chromoly steel frame"),
                 features=("hydraulic disc brakes", "internal cable routing", "a 12-speed drivetrain"),
                 details=("Every watt goes into forward motion on climbs and sprints.",
                          "Shifts crisply and brakes with confidence on wet roads.")),
            _sub("helmets & protection",
                 ("Cycling Helmet", "MIPS Bike Helmet", "Mountain Bike Knee Pads", "Cycling Glasses"),
                 ("commuting by bike in traffic", "enduro mountain biking", "long road rides in bright sun"),
                 (30, 260),
                 attrs=("Ventilated", "Aero", "Lightweight", "Photochromic", "Padded", "Reflective"),
                 materials=("an EPS foam shell", "impact-resistant polycarbonate", "D3O impact foam"),
                 features=("a MIPS rotational-impact liner", "18 air vents", "an adjustable fit dial")),
            _sub("bike lights & computers",
                 ("Bike Light Set", "GPS Bike Computer", "Rear Radar Bike Light", "Cycling Power Meter"),
                 ("night rides and dark bike commutes", "training with heart rate and power on the bike",
                  "navigating long bike tours"),
                 (20, 650),
                 attrs=("Rechargeable", "Bright", "Wireless", "Smart", "GPS", "Waterproof"),
                 materials=("an aluminum housing", "a weatherproof polycarbonate case"),
                 features=("a quick-release handlebar mount", "USB-C charging", "turn-by-turn navigation",
                           "a 1000-lumen beam")),
            _sub("components & tools",
                 ("Bike Multi-Tool", "Mini Bike Pump", "Tubeless Bike Tire", "Bike Chain Lube",
                  "Bike Repair Stand", "Clipless Pedals", "Bike Saddle"),
                 ("roadside flat tire repairs", "keeping your bike drivetrain running smoothly",
                  "home bike maintenance"),
                 (10, 250),
                 attrs=("Tubeless-Ready", "Lightweight", "Compact", "Heavy-Duty", "Pro", "Puncture-Resistant"),
                 materials=("forged steel", "hardened chromoly", "a puncture-resistant casing", "CNC aluminum"),
                 features=("16 essential functions", "a pressure gauge", "adjustable cleat tension")),
            _sub("cycling apparel",
                 ("Cycling Jersey", "Bib Shorts", "Cycling Gloves", "Cycling Shoes", "Winter Cycling Jacket"),
                 ("long summer bike rides", "cold and wet winter training on the bike", "century rides"),
                 (25, 260),
                 attrs=("Padded", "Aero", "Thermal", "Windproof", "Clipless", "Breathable"),
                 materials=("Italian Lycra fabric", "a multi-density chamois pad", "a stiff carbon sole"),
                 features=("anti-slip silicone grippers", "three rear pockets", "reflective trim")),
        ),
    ),
    Category(
        name="home office",
        brands=("Deskwise", "Workloft", "Ergonest", "Studiobay", "Quillfield", "Focusworks", "Paperlane",
                "Linea Office", "Northdesk", "Clearspace"),
        models=("Pro", "Flex", "Executive", "Compact", "Studio", "Task", "Essentials", "Workmate"),
        attrs=("Minimalist", "Space-Saving", "Modular", "Ergonomic"),
        details=("Designed for home offices, studios and shared workspaces.",
                 "Helps you stay focused and productive from the first email to the last call."),
        subs=(
            _sub("desks",
                 ("Standing Desk", "Writing Desk", "Corner Desk", "Standing Desk Converter", "L-Shaped Desk"),
                 ("working from home", "long video calls", "switching between sitting and standing at work"),
                 (120, 700),
                 attrs=("Height-Adjustable", "Electric", "Minimalist", "Space-Saving", "Solid Wood", "Dual-Motor"),
                 materials=("a solid bamboo desktop", "powder-coated steel legs", "a walnut veneer top"),
                 features=("memory height presets", "a dual-motor lift", "a cable tray"),
                 details=("Quiet motors won't disturb your video meetings.",
                          "Assembly takes about twenty minutes with the included tools.")),
            _sub("office chairs",
                 ("Office Chair", "Task Chair", "Kneeling Chair", "Executive Chair", "Under-Desk Footrest"),
                 ("eight-hour workdays at the desk", "supporting the lower back at your desk"),
                 (30, 600),
                 attrs=("Ergonomic", "Mesh", "Adjustable", "High-Back", "Swivel", "Reclining"),
                 materials=("breathable mesh", "vegan leather", "a molded foam seat"),
                 features=("adjustable lumbar support", "4D armrests", "a synchro-tilt mechanism"),
                 details=("Keeps your posture healthy through the workday.",)),
            _sub("keyboards & mice",
                 ("Mechanical Keyboard", "Wireless Mouse", "Ergonomic Keyboard", "Trackball Mouse",
                  "Keyboard and Mouse Combo"),
                 ("typing reports and emails all day", "spreadsheets and coding at work",
                  "preventing wrist strain at the computer"),
                 (20, 220),
                 attrs=("Wireless", "Mechanical", "Ergonomic", "Ultra-Quiet", "Low-Profile", "Split"),
                 materials=("PBT keycaps", "a brushed aluminum frame", "tactile brown switches"),
                 features=("programmable keys", "multi-device Bluetooth pairing", "a padded wrist rest")),
            _sub("desk lighting & monitor mounts",
                 ("LED Desk Lamp", "Monitor Arm", "Monitor Stand", "Webcam", "Monitor Light Bar"),
                 ("late-night work sessions", "clear video conferences", "reducing eye strain at the computer"),
                 (20, 260),
                 attrs=("Dimmable", "Adjustable", "Dual", "Gas-Spring", "1080p", "Clamp-On"),
                 materials=("brushed aluminum", "powder-coated steel", "a glare-free glass lens"),
                 features=("adjustable color temperature", "a gas-spring arm", "a built-in USB-C hub",
                           "auto light correction")),
            _sub("organization & stationery",
                 ("Desk Organizer", "Filing Cabinet", "Notebook Set", "Fountain Pen", "Cable Management Kit",
                  "Whiteboard"),
                 ("keeping a tidy workspace", "planning projects and to-do lists",
                  "taming cable clutter under the desk"),
                 (8, 260),
                 attrs=("Minimalist", "Lockable", "Dotted", "Magnetic", "Stackable", "Refillable"),
                 materials=("solid bamboo", "recycled paper", "powder-coated steel", "brass"),
                 features=("multiple compartments", "lay-flat binding", "a lockable drawer", "adhesive cable clips"),
                 details=("Keeps your desk tidy so you can focus on work.",)),
        ),
    ),
    Category(
        name="pet supplies",
        brands=("Happy Paws", "Whisker & Tail", "Barkley", "Furbright", "Pawfield", "Kibble & Co.",
                "Tailwag", "Purrfect", "Muddy Mutt", "Aquaspring"),
        models=("Classic", "Comfort", "Trail", "Premium", "Everyday", "Deluxe", "Cozy", "Active"),
        attrs=("Durable", "Vet-Approved", "Premium", "Pet-Safe"),
        details=("Vet-recommended for pets of all ages.",
                 "Made for pets who are part of the family.",
                 "Tested by dogs, cats and their owners."),
        subs=(
            _sub("dog food & treats",
                 ("Dry Dog Food", "Dog Treats", "Puppy Food", "Dental Chews for Dogs", "Wet Dog Food"),
                 ("large breed adult dogs", "training puppies with rewards", "dogs with sensitive stomachs"),
                 (8, 85),
                 attrs=("Grain-Free", "High-Protein", "Natural", "Dental", "Senior", "Limited-Ingredient"),
                 materials=("real chicken and brown rice", "wild-caught salmon", "grass-fed lamb"),
                 features=("added omega-3 for a shiny coat", "no artificial preservatives", "probiotics for digestion"),
                 suffixes=("5 lb Bag", "24 lb Bag", "30 Count")),
            _sub("cat supplies",
                 ("Cat Litter", "Cat Scratching Post", "Cat Tree", "Dry Cat Food", "Cat Feather Toy",
                  "Self-Cleaning Litter Box"),
                 ("multi-cat households", "indoor cats that love to climb", "controlling litter box odor"),
                 (8, 350),
                 attrs=("Clumping", "Unscented", "Multi-Level", "Interactive", "Indoor", "Odor-Control"),
                 materials=("natural sisal rope", "lightweight clumping clay", "plush carpet-covered wood"),
                 features=("activated charcoal for odor control", "a cozy hideaway condo", "a dangling feather toy"),
                 details=("Keeps your cat happy, busy and off the furniture.",)),
            _sub("dog beds & crates",
                 ("Dog Bed", "Dog Crate", "Pet Blanket", "Dog Sofa Cover"),
                 ("senior dogs with achy joints", "crate training a puppy", "road trips with your dog"),
                 (25, 220),
                 attrs=("Orthopedic", "Washable", "Calming", "Chew-Resistant", "Foldable", "Waterproof"),
                 materials=("machine-washable memory foam", "heavy-gauge steel wire", "water-resistant canvas"),
                 features=("a removable washable cover", "a non-skid bottom", "a divider panel"),
                 details=("Easy to clean, so pet fur and muddy paws are no problem.",)),
            _sub("leashes & collars",
                 ("Dog Leash", "Dog Harness", "Dog Collar", "Retractable Dog Leash", "GPS Pet Tracker"),
                 ("daily dog walks", "dogs that pull on the leash", "evening walks in the park with your dog"),
                 (10, 140),
                 attrs=("No-Pull", "Reflective", "Padded", "Adjustable", "Waterproof", "Heavy-Duty"),
                 materials=("durable nylon webbing", "waterproof biothane", "soft padded neoprene"),
                 features=("a padded handle", "reflective stitching", "a front clip to stop pulling")),
            _sub("aquarium & small pets",
                 ("Aquarium Starter Kit", "Fish Tank Filter", "Hamster Cage", "Bird Cage", "Rabbit Hutch"),
                 ("freshwater tropical fish", "hamsters and gerbils", "pet rabbits and guinea pigs"),
                 (15, 300),
                 attrs=("Quiet", "Spacious", "Easy-Clean", "LED-Lit", "Starter", "Multi-Level"),
                 materials=("crystal-clear glass", "chew-proof wire", "weatherproofed fir wood"),
                 features=("a quiet filter pump", "a pull-out cleaning tray", "LED lighting")),
        ),
    ),
    Category(
        name="skincare",
        brands=("Luminelle", "Dermaleaf", "Pure Botanica", "Glowlab", "Aveline", "Skinsmith",
                "Clarity & Co.", "Rosewater Apothecary", "Velvet Bloom", "Solenne"),
        models=("Daily", "Hydra", "Renew", "Radiance", "Calm", "Night", "Gentle", "Clear"),
        attrs=("Hydrating", "Fragrance-Free", "Brightening", "Anti-Aging", "Oil-Free", "Gentle",
               "Vitamin C", "Hyaluronic Acid", "Retinol", "Soothing"),
        details=("Dermatologist-tested and suitable for sensitive skin.",
                 "Free of parabens, sulfates and synthetic fragrance.",
                 "A simple step to add to your morning and evening skincare routine."),
        subs=(
            _sub("moisturizers",
                 ("Face Moisturizer", "Night Cream", "Eye Cream", "Gel Moisturizer", "Body Lotion"),
                 ("dry and sensitive skin", "overnight skin repair", "softening fine lines"),
                 (12, 85),
                 materials=("ceramides and niacinamide", "hyaluronic acid", "shea butter", "plant-derived squalane"),
                 features=("a lightweight non-greasy texture", "an airless pump bottle", "72-hour hydration"),
                 details=("Leaves skin soft, smooth and visibly radiant.",)),
            _sub("serums & treatments",
                 ("Face Serum", "Facial Oil", "Acne Spot Treatment", "Exfoliating Toner"),
                 ("fading dark spots", "a dewy skin glow", "breakout-prone skin"),
                 (14, 95),
                 materials=("15% vitamin C", "salicylic acid", "encapsulated retinol", "rosehip oil"),
                 features=("a glass dropper bottle", "a fast-absorbing finish", "a fragrance-free formula")),
            _sub("cleansers",
                 ("Foaming Face Cleanser", "Cleansing Balm", "Micellar Water", "Exfoliating Face Wash"),
                 ("removing makeup and sunscreen", "oily and combination skin",
                  "morning and evening skincare routines"),
                 (8, 45),
                 materials=("green tea extract", "gentle amino acid surfactants", "soothing aloe vera"),
                 features=("a pH-balanced formula", "a rich creamy lather", "a melt-away balm texture")),
            _sub("sunscreen",
                 ("Sunscreen SPF 50", "Tinted Sunscreen SPF 30", "Sunscreen Stick", "After-Sun Gel"),
                 ("daily UV protection for the face", "beach days in the sun", "wearing under makeup"),
                 (9, 45),
                 attrs=("Mineral", "Water-Resistant", "Reef-Safe", "Lightweight", "Fragrance-Free", "Tinted"),
                 materials=("non-nano zinc oxide", "soothing aloe vera", "broad-spectrum UV filters"),
                 features=("no white cast", "80 minutes of water resistance", "a sheer matte finish"),
                 details=("Layers easily under makeup.",)),
            _sub("masks & lip care",
                 ("Sheet Mask Set", "Clay Face Mask", "Lip Balm", "Overnight Lip Mask", "Hydrating Face Mask"),
                 ("a weekly pampering skincare ritual", "chapped winter lips", "unclogging pores"),
                 (6, 50),
                 materials=("kaolin clay", "shea butter", "hyaluronic acid", "beeswax"),
                 features=("a soothing cooling feel", "a lightly tinted finish", "individually sealed sheets")),
        ),
        suffixes=("50 ml", "1.7 fl oz", "30 ml", "100 ml"),
    ),
    Category(
        name="board games",
        # For games the "brand" + "model" pair is the game's name ("Spice Route").
        brands=("Spice", "Harbor", "Dragon", "Castle", "Star", "Railway", "Orchard", "Pirate", "Kingdom",
                "Lantern", "Mystic", "Tidal", "Ember", "Caravan"),
        models=("Lords", "Route", "Feast", "Siege", "Quest", "Tycoon", "Empire", "Heist", "Legends",
                "Frontier", "Council", "Rush"),
        attrs=("Cooperative", "Competitive", "Family", "Two-Player", "Deck-Building", "Worker-Placement",
               "Quick-Play", "Legacy", "Award-Winning", "Tabletop"),
        details=("Every game plays out differently, so it stays fresh night after night.",
                 "Beautiful artwork makes the game table come alive.",
                 "A favorite of board game cafes and family game nights."),
        subs=(
            _sub("strategy games",
                 ("Strategy Board Game", "Worker Placement Game", "Empire Building Game", "Area Control Game"),
                 ("game nights with 2 to 4 players", "deep tactical play over an evening",
                  "hobby board gamers"),
                 (25, 90),
                 materials=("thick linen-finish game boards", "chunky wooden meeples", "custom engraved dice"),
                 features=("variable player powers", "a solo mode", "a 90-minute play time"),
                 details=("Easy to learn in minutes but full of meaningful decisions on every turn.",)),
            _sub("party games",
                 ("Party Game", "Word Guessing Game", "Trivia Game", "Drawing Game"),
                 ("parties with 6 or more friends", "laughing with friends over a game",
                  "holiday gatherings with family"),
                 (15, 40),
                 attrs=("Party", "Hilarious", "Team-Based", "Adult", "Family", "Quick-Play"),
                 materials=("premium game cards", "dry-erase boards", "a sand timer"),
                 features=("over 500 prompt cards", "a 15-minute play time", "rules that take a minute to learn")),
            _sub("family games",
                 ("Family Board Game", "Dice Game", "Tile-Laying Game", "Kids Board Game"),
                 ("family game night", "playing board games with kids ages 8 and up",
                  "rainy weekends at home"),
                 (12, 50),
                 materials=("chunky cardboard tiles", "custom wooden pieces", "colorful custom dice"),
                 features=("a 30-minute play time", "a quick-start rules guide", "simple rules for younger players")),
            _sub("card games",
                 ("Card Game", "Deck-Building Card Game", "Trick-Taking Card Game", "Collectible Card Game Set"),
                 ("quick card games over lunch", "game nights on the go", "two-player duels"),
                 (8, 35),
                 materials=("premium linen-finish cards", "a magnetic travel tin", "a sturdy card box"),
                 features=("over 200 illustrated cards", "a 20-minute play time", "expansion-ready card dividers")),
            _sub("jigsaw & logic puzzles",
                 ("1000-Piece Jigsaw Puzzle", "500-Piece Jigsaw Puzzle", "Logic Puzzle Set",
                  "3D Wooden Puzzle"),
                 ("quiet puzzle evenings", "challenging the whole family", "relaxing weekend afternoons"),
                 (12, 45),
                 attrs=("Panoramic", "Vintage", "Hand-Illustrated", "Brain-Teaser", "Challenging", "Gradient"),
                 materials=("thick blue-core puzzle board", "laser-cut birch plywood", "glare-free linen paper"),
                 features=("precision-cut interlocking pieces", "a reference poster", "40 graded challenges"),
                 details=("Every puzzle piece snaps satisfyingly into place.",)),
        ),
        weight=0.9,
    ),
)


BOOK_GENRES: tuple[BookGenre, ...] = (
    BookGenre(
        "mystery & thriller", "Mystery Thriller",
        ("Silent", "Drowned", "Last", "Hollow", "Broken", "Missing", "Midnight", "Crimson", "Buried",
         "Fallen", "Quiet", "Seventh"),
        ("Witness", "Harbor", "Ledger", "Alibi", "Confession", "Orchard", "Lighthouse", "Verdict",
         "Stranger", "Key", "Cellar", "Passenger"),
        ("The {adj} {noun}", "The {noun} in the {adj} House", "A {adj} {noun}"),
        ("gripping", "twisty", "page-turning", "chilling", "atmospheric"),
        ("a retired detective pulled back into one last cold case",
         "a small-town murder that exposes decades of buried secrets",
         "a journalist racing to uncover a deadly conspiracy",
         "a missing sister and a trail of coded letters",
         "a locked-room murder on a snowbound island"),
        (9, 28)),
    BookGenre(
        "science fiction", "Science Fiction Novel",
        ("Quantum", "Distant", "Red", "Infinite", "Binary", "Orbital", "Frozen", "Dark", "Final",
         "Electric", "Hidden", "Fractured"),
        ("Star", "Signal", "Colony", "Horizon", "Machine", "Drift", "Nebula", "Protocol", "Station",
         "Frontier", "Sun", "Orbit"),
        ("The {adj} {noun}", "{noun} of the {adj} Sea", "Beyond the {adj} {noun}"),
        ("mind-bending", "epic", "thought-provoking", "fast-paced", "visionary"),
        ("a starship crew stranded at the edge of the galaxy",
         "first contact with an alien intelligence",
         "an artificial intelligence that wakes up aboard a generation ship",
         "a rebellion on a terraformed Mars colony",
         "a time-travel experiment that fractures the future"),
        (9, 30)),
    BookGenre(
        "fantasy", "Epic Fantasy Novel",
        ("Shattered", "Ember", "Iron", "Whispering", "Thorned", "Moonlit", "Forgotten", "Gilded", "Storm",
         "Raven", "Silver", "Ashen"),
        ("Crown", "Throne", "Dragon", "Sword", "Forest", "Queen", "Oath", "Tower", "Kingdom", "Spell",
         "Wolf", "Citadel"),
        ("The {adj} {noun}", "A {noun} of {adj} Fire", "The {noun} and the {adj} Mage"),
        ("sweeping", "enchanting", "epic", "spellbinding", "dark"),
        ("an orphan who discovers she can speak to dragons",
         "a band of unlikely heroes on a quest to break an ancient curse",
         "rival mages fighting over a dying magical kingdom",
         "a thief who steals a crown that whispers back",
         "a knight sworn to protect the last heir of a fallen dynasty"),
        (9, 32)),
    BookGenre(
        "romance", "Romance Novel",
        ("Summer", "Sweet", "Second", "Secret", "Starlit", "Paper", "Little", "Lavender", "Seaside",
         "Winter", "Honey", "Golden"),
        ("Kiss", "Promise", "Heart", "Chance", "Bakery", "Vineyard", "Letters", "Wedding", "Cottage",
         "Season", "Proposal", "Love Song"),
        ("The {adj} {noun}", "A {adj} {noun}", "Our {adj} {noun}"),
        ("heartwarming", "swoony", "funny and tender", "feel-good", "sizzling"),
        ("two rival bakers who fall in love", "a second-chance romance in a seaside town",
         "a fake engagement that turns into real love", "a bookshop owner and a brooding novelist",
         "a summer wedding planner who swore off love"),
        (8, 22)),
    BookGenre(
        "history", "History Book",
        ("Lost", "Great", "Forgotten", "Golden", "Hidden", "Long", "Bitter", "Rising", "First", "Fallen",
         "Ancient", "Silent"),
        ("Empire", "Revolution", "Century", "Republic", "Dynasty", "War", "Voyage", "Age", "Crusade",
         "Kingdoms", "Frontier", "Treaty"),
        ("The {adj} {noun}", "The {adj} {noun} Revisited", "{noun} of the {adj} World"),
        ("richly researched", "sweeping", "vivid", "authoritative", "revelatory"),
        ("the rise and fall of the Byzantine Empire",
         "the trade routes that connected medieval Europe and Asia",
         "the women codebreakers of the Second World War",
         "the engineers who built ancient Rome",
         "the revolutions that remade eighteenth-century Europe"),
        (14, 38)),
    BookGenre(
        "biography & memoir", "Memoir",
        ("Long", "Unfinished", "Borrowed", "Wild", "Ordinary", "Crooked", "Quiet", "Open", "Stubborn",
         "Unlikely", "Late", "Brave"),
        ("Road Home", "Life", "Years", "Journey", "Song", "Notebook", "Education", "Kitchen Table",
         "Light", "Hours", "Chapter", "Summer"),
        ("The {adj} {noun}", "{adj} {noun}", "My {adj} {noun}"),
        ("moving", "candid", "inspiring", "funny and honest", "unforgettable"),
        ("a jazz musician's decades on the road", "growing up on a Montana cattle ranch",
         "a pioneering heart surgeon's life in medicine", "a chess prodigy's rise and fall",
         "a refugee family building a new life"),
        (12, 32)),
    BookGenre(
        "self-help", "Self-Help Book",
        ("Small", "Quiet", "Deep", "Calm", "Clear", "Brave", "Simple", "Daily", "Focused", "Kind",
         "Resilient", "Mindful"),
        ("Habits", "Mind", "Focus", "Courage", "Decisions", "Mornings", "Work", "Life", "Confidence",
         "Attention", "Change", "Balance"),
        ("The {adj} {noun}", "{adj} {noun} for Busy People", "The Power of {adj} {noun}"),
        ("practical", "science-backed", "life-changing", "encouraging", "no-nonsense"),
        ("building habits that actually stick", "managing stress and anxiety",
         "clear thinking and better decisions", "finding meaning and focus at work",
         "growing confidence one small step at a time"),
        (10, 26)),
)
BOOK_CATEGORY = "books"
BOOK_WEIGHT = 1.3
BOOK_FORMATS = ("Paperback", "Hardcover", "Kindle Edition", "Audiobook")
BOOK_EXTRAS = ("Perfect for book club discussions.", "The ideal book for a long weekend of reading.",
               "Readers will not want to put this book down.", "A thoughtful gift for any book lover.",
               "Named one of the year's best books by independent booksellers.")
AUTHOR_FIRST = ("Clara", "Jonah", "Mira", "Elias", "Nadia", "Theo", "Greta", "Samuel", "Ines", "Marcus",
                "Harriet", "Owen", "Lucia", "Felix", "Rosalind", "Daniel", "Amara", "Victor")
AUTHOR_LAST = ("Whitmore", "Calloway", "Okafor", "Lindqvist", "Marchetti", "Hale", "Brennan",
               "Takahashi", "Delacroix", "Ashford", "Novak", "Reyes", "Sutherland", "Quinn")


def top_categories() -> list[str]:
    """The top category names, in a fixed order."""
    return [c.name for c in CATEGORIES] + [BOOK_CATEGORY]


def _pick(rng: np.random.Generator, seq: Sequence[_T]) -> _T:
    # Index instead of rng.choice: keeps Python strings (choice would give numpy str_).
    return seq[int(rng.integers(len(seq)))]


def _article(word: str) -> str:
    return "An" if word[:1].lower() in "aeiou" else "A"


# Words a description keeps capitalised: proper nouns and brand-like terms.
_PROPER = frozenset({"Ethiopian", "Yirgacheffe", "Colombian", "Sumatra", "Guatemalan", "Earl", "Grey",
                     "French", "German", "Italian", "Bluetooth"})


def _lower(phrase: str) -> str:
    """Lower-case a title phrase for prose, keeping acronyms (RC, GPS, SPF 50) and proper nouns."""
    words = []
    for word in phrase.split(" "):
        keep = word in _PROPER or any(ch.isdigit() for ch in word) or (len(word) > 1 and word.isupper())
        words.append(word if keep else word.lower())
    return " ".join(words)


def _is_plural(noun: str) -> bool:
    """'Trekking Poles' and 'Bib Shorts' are plural; 'Macro Lens' and 'Glass' are not."""
    last = noun.split(" ")[-1]
    return last.endswith("s") and not last.endswith(("ss", "Lens"))


def _price(rng: np.random.Generator, lo: float, hi: float) -> float:
    """Log-uniform in [lo, hi] (cheap items are more common), ending in .99 like shop prices."""
    value = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    if value >= 200:
        return float(round(value, -1)) - 0.01
    return max(float(round(value)), 1.0) - 0.01


def _product_item(rng: np.random.Generator, cat: Category) -> tuple[str, str, str, float]:
    """(title, description, sub category, price) for one non-book item."""
    sub = _pick(rng, cat.subs)
    brand = _pick(rng, cat.brands)
    model = _pick(rng, cat.models)
    attr = _pick(rng, sub.attrs or cat.attrs)
    noun = _pick(rng, sub.nouns)
    material = _pick(rng, sub.materials)
    feature = _pick(rng, sub.features)
    use = _pick(rng, sub.uses)

    # A few title shapes, as real listings vary; the attribute shape dominates.
    shape = rng.random()
    if shape < 0.5:
        title = f"{brand} {model} {attr} {noun}"
    elif shape < 0.8:
        title = f"{brand} {attr} {noun}"
    else:
        title = f"{brand} {model} {noun}"
    suffixes = sub.suffixes or cat.suffixes
    if suffixes and rng.random() < 0.35:
        title = f"{title} - {_pick(rng, suffixes)}"

    noun_l = _lower(noun)
    plural = _is_plural(noun)
    form = int(rng.integers(3))
    if form == 0:
        attr_l = _lower(attr)
        lead = f"{attr_l} {noun_l}"
        lead = lead[:1].upper() + lead[1:] if plural else f"{_article(attr_l)} {lead}"
        first = f"{lead} made with {material}, designed for {use}."
    elif form == 1:
        this, verb = ("these", "combine") if plural else ("this", "combines")
        first = f"Built for {use}, {this} {noun_l} {verb} {material} with {feature}."
    else:
        lead = noun_l[:1].upper() + noun_l[1:] if plural else f"{_article(noun_l)} {noun_l}"
        first = f"{lead} for {use}, with {feature} and {material}."
    description = first
    if rng.random() < 0.85:
        description += " " + _pick(rng, sub.details + cat.details)
    return title, description, sub.name, _price(rng, *sub.price)


def _book_item(rng: np.random.Generator) -> tuple[str, str, str, float]:
    """(title, description, genre, price) for one book."""
    genre = _pick(rng, BOOK_GENRES)
    name = _pick(rng, genre.title_patterns).format(adj=_pick(rng, genre.title_adjs),
                                                   noun=_pick(rng, genre.title_nouns))
    author = f"{_pick(rng, AUTHOR_FIRST)} {_pick(rng, AUTHOR_LAST)}"
    fmt = _pick(rng, BOOK_FORMATS)
    title = f"{name}: {_article(genre.label)} {genre.label} by {author} ({fmt})"
    blurb = _pick(rng, genre.blurbs)
    kind = genre.label.lower() if genre.label != "Memoir" else "memoir"
    description = f"{_article(blurb)} {blurb} {kind} about {_pick(rng, genre.premises)}."
    if rng.random() < 0.85:
        description += " " + _pick(rng, BOOK_EXTRAS)
    return title, description, genre.name, _price(rng, *genre.price)


def _allocate(n: int) -> list[tuple[str, int]]:
    """Items per top category, proportional to its weight (largest remainders get the rest)."""
    names = top_categories()
    weights = np.array([c.weight for c in CATEGORIES] + [BOOK_WEIGHT], dtype=float)
    exact = n * weights / weights.sum()
    counts = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - counts), kind="stable")[: n - int(counts.sum())]:
        counts[i] += 1
    return list(zip(names, (int(c) for c in counts), strict=True))


def generate_catalogue(n: int = DEFAULT_N, seed: int = DEFAULT_SEED) -> list[dict[str, Any]]:
    """``n`` item messages, identical for the same ``(n, seed)``.

    Titles are unique unless a category's vocabulary runs out of combinations
    (not the case at the default size): a duplicate is redrawn a few times first.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    by_name = {c.name: c for c in CATEGORIES}
    seen: set[str] = set()
    drafts: list[tuple[str, str, str, str, float]] = []
    for top, count in _allocate(n):
        for _ in range(count):
            for _attempt in range(30):
                if top == BOOK_CATEGORY:
                    title, desc, sub, price = _book_item(rng)
                else:
                    title, desc, sub, price = _product_item(rng, by_name[top])
                if title not in seen:
                    break
            seen.add(title)
            drafts.append((title, desc, top, sub, price))
    # Shuffle so sku numbers do not give the category away.
    order = rng.permutation(len(drafts))
    width = max(5, len(str(n)))
    items: list[dict[str, Any]] = []
    for number, idx in enumerate(order, start=1):
        title, desc, top, sub, price = drafts[int(idx)]
        items.append({
            "item_id": f"sku-{number:0{width}d}",
            "title": title,
            "description": desc,
            "categories": [top, sub],
            "available": True,
            "price": price,
        })
    return items


def dumps_catalogue(items: Sequence[dict[str, Any]]) -> str:
    """JSON Lines text, one item per line, as shipped."""
    return "".join(json.dumps(item, ensure_ascii=False) + "\n" for item in items)


def load_builtin_catalogue() -> list[dict[str, Any]]:
    """The catalogue shipped in the package (``stream_apps/tools/data/catalogue.jsonl``)."""
    text = resources.files("stream_apps.tools").joinpath("data").joinpath(DATA_FILE).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def builtin_catalogue_path() -> Path:
    """Where the shipped file lives in a source checkout (the regenerate target)."""
    return Path(__file__).resolve().parent / "data" / DATA_FILE


def main(argv: Sequence[str] | None = None) -> int:
    """Regenerate the shipped catalogue file."""
    parser = argparse.ArgumentParser(prog="python -m stream_apps.tools.catalogue", description=main.__doc__)
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="number of items (default %(default)s)")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed (default %(default)s)")
    parser.add_argument("--out", type=Path, default=builtin_catalogue_path(), help="output .jsonl path")
    args = parser.parse_args(argv)
    items = generate_catalogue(args.n, args.seed)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dumps_catalogue(items), encoding="utf-8")
    print(f"wrote {len(items)} items to {args.out} ({args.out.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
