"""Korean names for the places, countries and units the tools know: data, and one careful lookup.

A Korean room asks "서울 날씨" or "마라톤은 몇 마일?", and Llama may pass the Korean word on as a tool argument
(`get_weather(city="서울")`, `convert_units(..., to_unit="마일")`). Each table here maps a Korean name to the
English entry the tool already understands, so a Korean argument gives exactly the result of its English
equivalent::

    >>> place("서울특별시의")
    'Seoul'
    >>> unit("마일로")
    'mile'
    >>> place("서울대") is None   # not Seoul: only whole known names match
    True

The lookup is deterministic and cheap (dictionary look-ups only): text is NFKC-normalised and its spaces
removed; a trailing particle or administrative suffix ("의", "에서", "시", "특별시", "도"...) or a leading word
("한국", "지금"...) is taken off only when what remains is a known name. Text without Hangul is never looked up
here (the tools' own English tables answer it).
"""
from __future__ import annotations

import re
import unicodedata

MAX_CHARS = 40  # longer text is a sentence, not a name
MAX_STRIPS = 3  # at most this many suffixes/prefixes are taken off one name

# --- places -------------------------------------------------------------------------------------------
# Korean name → the English city name the weather geocoder and the local-time table both know.
# Left out on purpose: names that are also everyday words ("빈" for Vienna means "empty"; "니스", "칸").
PLACES: dict[str, str] = {
    # Korea
    "서울": "Seoul", "부산": "Busan", "인천": "Incheon", "대구": "Daegu", "대전": "Daejeon",
    "광주": "Gwangju", "울산": "Ulsan", "수원": "Suwon", "세종": "Sejong", "제주": "Jeju",
    "평양": "Pyongyang",
    # Japan
    "도쿄": "Tokyo", "동경": "Tokyo", "오사카": "Osaka", "교토": "Kyoto", "후쿠오카": "Fukuoka",
    "삿포로": "Sapporo", "나고야": "Nagoya", "요코하마": "Yokohama", "나하": "Naha",
    # China, Taiwan
    "베이징": "Beijing", "북경": "Beijing", "상하이": "Shanghai", "상해": "Shanghai", "홍콩": "Hong Kong",
    "선전": "Shenzhen", "심천": "Shenzhen", "광저우": "Guangzhou", "마카오": "Macau",
    "타이베이": "Taipei", "타이페이": "Taipei",
    # South-east and south Asia, the Middle East
    "싱가포르": "Singapore", "방콕": "Bangkok", "하노이": "Hanoi", "호찌민": "Ho Chi Minh City",
    "호치민": "Ho Chi Minh City", "다낭": "Da Nang", "마닐라": "Manila", "자카르타": "Jakarta",
    "쿠알라룸푸르": "Kuala Lumpur", "뭄바이": "Mumbai", "델리": "Delhi", "뉴델리": "New Delhi",
    "방갈로르": "Bangalore", "벵갈루루": "Bengaluru", "두바이": "Dubai", "아부다비": "Abu Dhabi",
    "이스탄불": "Istanbul", "테헤란": "Tehran", "리야드": "Riyadh",
    # Europe
    "런던": "London", "파리": "Paris", "베를린": "Berlin", "뮌헨": "Munich", "프랑크푸르트": "Frankfurt",
    "마드리드": "Madrid", "바르셀로나": "Barcelona", "로마": "Rome", "밀라노": "Milan",
    "암스테르담": "Amsterdam", "브뤼셀": "Brussels", "비엔나": "Vienna", "프라하": "Prague",
    "부다페스트": "Budapest", "바르샤바": "Warsaw", "취리히": "Zurich", "제네바": "Geneva",
    "스톡홀름": "Stockholm", "예테보리": "Gothenburg", "오슬로": "Oslo", "코펜하겐": "Copenhagen",
    "헬싱키": "Helsinki", "더블린": "Dublin", "리스본": "Lisbon", "아테네": "Athens",
    "모스크바": "Moscow", "키이우": "Kyiv", "키예프": "Kyiv", "레이캬비크": "Reykjavik",
    # Africa
    "카이로": "Cairo", "나이로비": "Nairobi", "라고스": "Lagos", "요하네스버그": "Johannesburg",
    "케이프타운": "Cape Town",
    # The Americas
    "뉴욕": "New York", "로스앤젤레스": "Los Angeles", "엘에이": "Los Angeles",
    "샌프란시스코": "San Francisco", "시애틀": "Seattle", "라스베이거스": "Las Vegas",
    "라스베가스": "Las Vegas", "시카고": "Chicago", "보스턴": "Boston", "워싱턴": "Washington",
    "마이애미": "Miami", "애틀랜타": "Atlanta", "댈러스": "Dallas", "달라스": "Dallas",
    "휴스턴": "Houston", "덴버": "Denver", "피닉스": "Phoenix", "호놀룰루": "Honolulu",
    "앵커리지": "Anchorage", "토론토": "Toronto", "밴쿠버": "Vancouver", "몬트리올": "Montreal",
    "멕시코시티": "Mexico City", "상파울루": "Sao Paulo", "상파울로": "Sao Paulo",
    "리우데자네이루": "Rio de Janeiro", "부에노스아이레스": "Buenos Aires", "리마": "Lima",
    "보고타": "Bogota", "산티아고": "Santiago",
    # Oceania
    "시드니": "Sydney", "멜버른": "Melbourne", "멜번": "Melbourne", "브리즈번": "Brisbane",
    "퍼스": "Perth", "오클랜드": "Auckland",
}

# --- countries ----------------------------------------------------------------------------------------
# Korean name → (English name, ISO 3166 code). The code qualifies a weather place ("서울, 한국" picks the
# Korean Seoul); the English name is what the local-time table knows for countries with one time zone.
COUNTRIES: dict[str, tuple[str, str]] = {
    "대한민국": ("South Korea", "KR"), "한국": ("South Korea", "KR"), "남한": ("South Korea", "KR"),
    "북한": ("North Korea", "KP"), "일본": ("Japan", "JP"), "중국": ("China", "CN"),
    "대만": ("Taiwan", "TW"), "타이완": ("Taiwan", "TW"), "홍콩": ("Hong Kong", "HK"),
    "마카오": ("Macau", "MO"), "싱가포르": ("Singapore", "SG"), "태국": ("Thailand", "TH"),
    "베트남": ("Vietnam", "VN"), "필리핀": ("Philippines", "PH"), "인도네시아": ("Indonesia", "ID"),
    "말레이시아": ("Malaysia", "MY"), "인도": ("India", "IN"), "아랍에미리트": ("United Arab Emirates", "AE"),
    "튀르키예": ("Turkey", "TR"), "터키": ("Turkey", "TR"), "이집트": ("Egypt", "EG"),
    "미국": ("United States", "US"), "캐나다": ("Canada", "CA"), "멕시코": ("Mexico", "MX"),
    "브라질": ("Brazil", "BR"), "아르헨티나": ("Argentina", "AR"), "영국": ("United Kingdom", "GB"),
    "프랑스": ("France", "FR"), "독일": ("Germany", "DE"), "이탈리아": ("Italy", "IT"),
    "스페인": ("Spain", "ES"), "포르투갈": ("Portugal", "PT"), "네덜란드": ("Netherlands", "NL"),
    "벨기에": ("Belgium", "BE"), "스위스": ("Switzerland", "CH"), "오스트리아": ("Austria", "AT"),
    "스웨덴": ("Sweden", "SE"), "노르웨이": ("Norway", "NO"), "덴마크": ("Denmark", "DK"),
    "핀란드": ("Finland", "FI"), "아일랜드": ("Ireland", "IE"), "아이슬란드": ("Iceland", "IS"),
    "폴란드": ("Poland", "PL"), "체코": ("Czechia", "CZ"), "헝가리": ("Hungary", "HU"),
    "그리스": ("Greece", "GR"), "러시아": ("Russia", "RU"), "우크라이나": ("Ukraine", "UA"),
    "호주": ("Australia", "AU"), "오스트레일리아": ("Australia", "AU"), "뉴질랜드": ("New Zealand", "NZ"),
    "남아프리카공화국": ("South Africa", "ZA"), "남아공": ("South Africa", "ZA"), "케냐": ("Kenya", "KE"),
    "나이지리아": ("Nigeria", "NG"),
}

# --- units --------------------------------------------------------------------------------------------
# Korean name → a name the unit table (units.py) knows. "킬로" alone is left out: it means km or kg.
UNITS: dict[str, str] = {
    # length
    "미터": "meter", "킬로미터": "kilometer", "키로미터": "kilometer", "센티미터": "centimeter",
    "센티": "centimeter", "센치": "centimeter", "밀리미터": "millimeter", "마일": "mile", "야드": "yard",
    "피트": "foot", "인치": "inch", "해리": "nautical mile", "마라톤": "marathon",
    "하프마라톤": "half marathon",
    # mass
    "킬로그램": "kilogram", "키로그램": "kilogram", "그램": "gram", "밀리그램": "milligram", "톤": "tonne",
    "파운드": "pound", "온스": "ounce", "스톤": "stone",
    # volume
    "리터": "liter", "밀리리터": "milliliter", "세제곱미터": "cubic meter", "입방미터": "cubic meter",
    "갤런": "gallon", "쿼트": "quart", "컵": "cup", "액량온스": "fluid ounce",
    # speed
    "미터매초": "m/s", "미터/초": "m/s", "초당미터": "m/s",
    "킬로미터매시": "km/h", "킬로미터매시간": "km/h", "킬로미터/시": "km/h", "킬로미터/시간": "km/h",
    "시속킬로미터": "km/h", "마일매시": "mph", "마일매시간": "mph", "마일/시": "mph", "마일/시간": "mph",
    "시속마일": "mph", "노트": "knot", "피트매초": "ft/s", "피트/초": "ft/s",
    # temperature
    "섭씨": "celsius", "섭씨온도": "celsius", "섭씨도": "celsius", "화씨": "fahrenheit",
    "화씨온도": "fahrenheit", "화씨도": "fahrenheit", "켈빈": "kelvin", "절대온도": "kelvin",
}

# --- what may be taken off a name ---------------------------------------------------------------------
# Longest first where one ends another ("에서의" before "의"); a strip counts only if a known name remains.
_PARTICLES = ("에서의", "에서", "으로", "의", "에", "은", "는", "이", "가", "을", "를", "로")
_TIME_WORDS = ("현지시간", "현지시각", "시간", "시각")  # "도쿄 시각", "한국 시간"
PLACE_SUFFIXES: tuple[str, ...] = (
    "특별자치시", "특별자치도", "특별시", "광역시", "시", "도", "부", "현",  # 서울특별시, 도쿄도, 오사카부
    *_TIME_WORDS, "날씨", "기온", *_PARTICLES,  # "서울 날씨", "서울의"
)
PLACE_PREFIXES: tuple[str, ...] = ("지금", "현재", "오늘", *COUNTRIES)  # "지금 도쿄", "일본 오사카"
COUNTRY_SUFFIXES: tuple[str, ...] = (*_TIME_WORDS, *_PARTICLES)  # no "도": "일본도" is a sword, not Japan
UNIT_SUFFIXES: tuple[str, ...] = ("단위", *_PARTICLES)  # "마일로", "킬로미터를"

_HANGUL = re.compile(r"[\u1100-\u11ff\u3130-\u318f\uac00-\ud7a3]")
_EDGES = " \t\r\n\"'“”‘’「」『』()[]?？!！.。,、~"


def normalise(text: str) -> str:
    """NFKC form, edges trimmed, inner spaces removed (the form the tables' keys are written in).

    >>> normalise(" 로스 앤젤레스? ")
    '로스앤젤레스'
    """
    text = unicodedata.normalize("NFKC", text).strip(_EDGES)
    return re.sub(r"\s+", "", text).replace("∕", "/").lower()


def _lookup(text: object, table: dict[str, str], suffixes: tuple[str, ...],
            prefixes: tuple[str, ...] = ()) -> str | None:
    """The table's value for `text`, taking off at most MAX_STRIPS suffixes/prefixes; None if unknown."""
    if not isinstance(text, str) or len(text) > MAX_CHARS * 2:
        return None
    key = normalise(text)
    if not key or len(key) > MAX_CHARS or not _HANGUL.search(key):
        return None
    # Breadth first, in the fixed order of the suffix/prefix lists: fewest strips win, same answer every time.
    level = [key]
    seen = {key}
    for _ in range(MAX_STRIPS + 1):
        for candidate in level:
            if candidate in table:
                return table[candidate]
        following: list[str] = []
        for candidate in level:
            shorter = [candidate[: -len(s)] for s in suffixes if candidate.endswith(s)]
            shorter += [candidate[len(p):] for p in prefixes if candidate.startswith(p)]
            for rest in shorter:
                if rest and rest not in seen:
                    seen.add(rest)
                    following.append(rest)
        if not following:
            return None
        level = following
    return None


def place(text: object) -> str | None:
    """The English city name for a Korean place name ("부산광역시" → "Busan"), else None."""
    return _lookup(text, PLACES, PLACE_SUFFIXES, PLACE_PREFIXES)


_COUNTRY_NAMES = {korean: english for korean, (english, _) in COUNTRIES.items()}
_COUNTRY_CODES = {korean: code for korean, (_, code) in COUNTRIES.items()}


def country(text: object) -> str | None:
    """The English name of a Korean country name ("대한민국" → "South Korea"), else None."""
    return _lookup(text, _COUNTRY_NAMES, COUNTRY_SUFFIXES)


def country_code(text: object) -> str | None:
    """The ISO 3166 code of a Korean country name ("한국" → "KR"), else None."""
    return _lookup(text, _COUNTRY_CODES, COUNTRY_SUFFIXES)


def unit(text: object) -> str | None:
    """The English unit name for a Korean one ("킬로미터" → "kilometer", "섭씨" → "celsius"), else None."""
    return _lookup(text, UNITS, UNIT_SUFFIXES)
