#!/usr/bin/env python3
"""Generate the bundled demo corpus in ``curate/demo/``.

Dev-only tool (never imported by the ``curate`` package). It produces a small,
realistic-looking in-car Mandarin ASR corpus with a number of planted problems
that the curation plugins are expected to find:

* real (synthetic) Mandarin speech from libespeak-ng's ``cmn`` voice, driven via
  ctypes from the ``espeakng-loader`` wheel (ships the library and its data),
* synthesized car-cabin noise clips (engine harmonics + road + wind),
* ``manifest.jsonl``, ``base1.tsv`` (simulated small-model hypotheses) and
  ``planted.json`` (ids of every planted problem, per category).

Everything is deterministic (fixed seeds, espeak is deterministic) and the
script is re-runnable: it wipes and regenerates ``audio/`` and ``noise/``.

Usage::

    pip install espeakng-loader numpy soundfile soxr
    python scripts/make_demo.py            # writes curate/demo/
    python scripts/make_demo.py --out /tmp/demo
"""

from __future__ import annotations

import argparse
import ctypes
import json
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

SEED = 20240607
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "curate" / "demo"

# --------------------------------------------------------------------------
# espeak-ng via ctypes
# --------------------------------------------------------------------------

AUDIO_OUTPUT_SYNCHRONOUS = 2
espeakINITIALIZE_DONT_EXIT = 0x8000
espeakCHARS_UTF8 = 1
POS_CHARACTER = 1
# espeak_PARAMETER
espeakRATE, espeakVOLUME, espeakPITCH, espeakRANGE = 1, 2, 3, 4

_SYNTH_CB = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.c_void_p
)


class Espeak:
    """Minimal synchronous wrapper around libespeak-ng (speak_lib.h API)."""

    def __init__(self) -> None:
        import espeakng_loader

        self.lib = lib = ctypes.CDLL(espeakng_loader.get_library_path())
        lib.espeak_Initialize.restype = ctypes.c_int
        lib.espeak_Initialize.argtypes = [
            ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int,
        ]
        lib.espeak_SetSynthCallback.restype = None
        lib.espeak_SetSynthCallback.argtypes = [_SYNTH_CB]
        lib.espeak_SetVoiceByName.restype = ctypes.c_int
        lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
        lib.espeak_SetParameter.restype = ctypes.c_int
        lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.espeak_Synth.restype = ctypes.c_int
        lib.espeak_Synth.argtypes = [
            ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int,
            ctypes.c_uint, ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p,
        ]
        lib.espeak_Synchronize.restype = ctypes.c_int
        lib.espeak_Terminate.restype = ctypes.c_int

        data = espeakng_loader.get_data_path().encode()
        self.sr = lib.espeak_Initialize(
            AUDIO_OUTPUT_SYNCHRONOUS, 0, data, espeakINITIALIZE_DONT_EXIT
        )
        if self.sr <= 0:
            raise RuntimeError(f"espeak_Initialize failed ({self.sr})")
        self._chunks: list[np.ndarray] = []

        def _cb(wav, n, _events):  # noqa: ANN001
            if wav and n > 0:
                self._chunks.append(np.ctypeslib.as_array(wav, shape=(n,)).copy())
            return 0  # 0 = continue synthesis

        self._cb = _SYNTH_CB(_cb)  # keep a reference alive
        lib.espeak_SetSynthCallback(self._cb)

    def synth(self, text: str, voice: str, rate: int, pitch: int, prange: int) -> np.ndarray:
        """Synthesize ``text``; return float32 mono at ``self.sr`` in [-1, 1]."""
        lib = self.lib
        if lib.espeak_SetVoiceByName(voice.encode()) != 0:
            raise RuntimeError(f"espeak voice {voice!r} not available")
        # voice changes may reset parameters: always set them afterwards
        lib.espeak_SetParameter(espeakRATE, rate, 0)
        lib.espeak_SetParameter(espeakPITCH, pitch, 0)
        lib.espeak_SetParameter(espeakRANGE, prange, 0)
        lib.espeak_SetParameter(espeakVOLUME, 100, 0)
        self._chunks = []
        buf = text.encode("utf-8") + b"\0"
        rc = lib.espeak_Synth(buf, len(buf), 0, POS_CHARACTER, 0, espeakCHARS_UTF8, None, None)
        if rc != 0:
            raise RuntimeError(f"espeak_Synth failed ({rc}) for {text!r}")
        lib.espeak_Synchronize()
        if not self._chunks:
            raise RuntimeError(f"espeak produced no audio for {text!r}")
        return np.concatenate(self._chunks).astype(np.float32) / 32768.0

    def close(self) -> None:
        self.lib.espeak_Terminate()


@dataclass(frozen=True)
class Voice:
    name: str   # espeak voice (+variant)
    rate: int   # words per minute (espeak default 175)
    pitch: int  # 0..100 (default 50)
    prange: int  # pitch range 0..100 (default 50)


SPEAKERS: dict[str, Voice] = {
    "spk1": Voice("cmn", 180, 42, 45),       # male, default timbre
    "spk2": Voice("cmn+belinda", 190, 64, 65),  # female, lively
    "spk3": Voice("cmn+m3", 165, 32, 35),    # low male, slow, flat
    "spk4": Voice("cmn+f4", 200, 74, 55),    # female, fast, high
    "spk5": Voice("cmn+m1", 175, 52, 60),    # male, mid
    "spk6": Voice("cmn+f1", 160, 60, 40),    # female, slow
}

# --------------------------------------------------------------------------
# text content
# --------------------------------------------------------------------------

# ordinary utterances: (id prefix, sentence)
ORDINARY: dict[str, list[str]] = {
    "nav": [
        "导航到最近的加油站", "帮我找一下附近的停车场", "去首都机场二号航站楼",
        "避开拥堵重新规划路线", "还有多久到公司", "导航回家走高速",
        "附近有没有充电桩", "前面路口是左转还是右转", "我要去望京的凯德茂",
        "取消导航", "查一下去火车站的路况", "帮我搜一下附近好吃的火锅店",
        "换一条不收费的路线", "导航到人民医院急诊", "下一个服务区还有多远",
        "沿途有没有咖啡店", "把目的地改成中山公园", "开启语音播报",
    ],
    "clim": [
        "把空调温度调到二十四度", "空调开大一点", "有点冷把温度调高两度",
        "打开前挡风除雾", "关闭空调", "风量调到三档", "打开座椅加热",
        "主驾座椅通风打开", "开启内循环", "切换到外循环", "把空调调成自动模式",
        "后排空调关掉", "吹脚模式", "温度调到二十二度风量小一点",
        "车里太闷了开一下新风", "打开方向盘加热",
    ],
    "media": [
        "播放周杰伦的晴天", "下一首", "上一首", "暂停播放", "继续播放",
        "音量调大一点", "声音小一点", "我想听点轻松的音乐", "播放郭德纲的相声",
        "打开收音机调到交通广播", "随机播放我收藏的歌", "单曲循环这首歌",
        "这首歌叫什么名字", "播放最新一期的新闻", "来一首陈奕迅的十年",
        "切换到蓝牙音乐", "播放儿歌给孩子听", "关闭音乐",
    ],
    "call": [
        "打电话给张三", "给妈妈打个电话", "呼叫李经理", "挂断电话", "接听",
        "拒接这个电话", "回拨刚才的未接来电", "给老王发微信说我晚点到",
        "打电话给公司前台", "重拨上一个号码", "把通话切换到手机",
        "给王芳发短信说我到楼下了", "查看最近通话记录", "打给小刘问问他到哪了",
    ],
    "chat": [
        "今天堵车太严重了", "这条路怎么老是修", "晚上吃什么好呢",
        "你觉得明天会下雨吗", "前面那辆车开得太慢了", "周末要不要带孩子去郊区玩",
        "我有点困了找个地方休息一下", "今天天气真不错", "这个红绿灯时间好长啊",
        "刚才那个路口差点错过了", "油价又涨了", "你帮我看着点后面的车",
        "等会儿先去超市买点东西", "昨天的会开到很晚", "这首歌挺好听的",
        "讲个笑话听听", "现在几点了", "明天早上八点提醒我开会",
    ],
    "veh": [
        "打开车窗", "把主驾车窗关上", "打开天窗", "关闭天窗", "打开遮阳帘",
        "打开阅读灯", "打开雨刮", "后视镜折叠", "打开后备箱", "切换到运动模式",
        "打开氛围灯换成蓝色", "调高一点仪表盘亮度", "开启自动驻车", "胎压正常吗",
    ],
}

SHORT = ["好", "嗯", "对", "行"]

CONVERSATIONS: list[list[str]] = [
    [  # road trip planning
        "我们明天早上几点出发", "七点吧早点走不堵车", "那我先去加个油",
        "顺便把胎压也检查一下", "中午在服务区吃饭行吗", "可以的那边有家面馆挺好吃",
        "大概下午三点能到酒店", "酒店订的是哪一家", "就是湖边那家带停车场的",
        "孩子的东西都带齐了吗", "放心吧昨天晚上就收拾好了", "那咱们早点睡明天开长途",
    ],
    [  # commute, traffic
        "今天这路怎么这么堵", "前面好像出了交通事故", "要不咱们从辅路绕过去",
        "辅路估计也堵得厉害", "那就听听交通广播吧", "广播里说三环全线缓行",
        "看来上班肯定要迟到了", "我先给领导发个消息", "你说的对先报备一下",
        "早知道就坐地铁了", "明天咱们早出门半个小时", "行明天六点半就出发",
    ],
    [  # dinner and shopping
        "晚上想吃点什么", "好久没吃火锅了", "那去商场里那家吧",
        "周末人肯定特别多", "我们可以先在手机上排号", "好主意你来排一下",
        "排上了前面还有二十桌", "那我们先去超市逛逛", "正好家里的牛奶喝完了",
        "再买点水果和面包", "停车场入口在哪边", "就在前面那个路口右转",
    ],
    [  # voice memo, labelled without timestamps
        "帮我记一下明天的安排", "早上九点要去客户那里开会", "会议大概一个半小时",
        "中午和同事一起吃饭", "下午两点回公司写报告", "四点要给财务交报销单",
        "五点半去学校接孩子", "晚上七点家长会不要迟到", "回家路上顺便买点菜",
        "记得给车加满油", "周五之前要去做保养", "好了就这些",
    ],
]

# unclear-span labels: (prefix, label, [(kind, text)], hyp guess for the span)
FUZZY = [
    ("nav", "我想去～那个地方", [("s", "我想去"), ("m", "西单北"), ("s", "那个地方")], "西丹"),
    ("nav", "帮我导航到～路口", [("s", "帮我导航到"), ("m", "建国门"), ("s", "路口")], "建国"),
    ("call", "给～打个电话", [("s", "给"), ("m", "小赵"), ("s", "打个电话")], "小照"),
    ("media", "播放【～】的歌", [("s", "播放"), ("m", "林俊杰"), ("s", "的歌")], "林军洁"),
    ("veh", "把【～】关掉吧", [("s", "把"), ("m", "后排灯"), ("s", "关掉吧")], "后牌"),
]

EMPTY_LABEL_SPEECH = ("veh", "帮我把座椅往后调一点")

# a ~1.5 s clip whose label is ~40 characters
MISMATCH_SPEECH = ("veh", "打开车窗")
MISMATCH_LABEL = "打开车窗然后把空调温度调到二十二度再帮我导航到公司顺便播放一下今天早上的财经新闻"

DIGIT_SPOKEN = dict(zip("0123456789", "零幺二三四五六七八九"))


def spoken_digits(s: str) -> str:
    """Map ASCII digits to how they are read out one by one (1 -> 幺, X -> 叉)."""
    return "".join(DIGIT_SPOKEN.get(c, "叉" if c == "X" else c) for c in s)


def id_checksum(first17: str) -> str:
    """GB 11643 check character (ISO 7064 MOD 11-2)."""
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    s = sum(int(c) * w for c, w in zip(first17, weights))
    return "10X98765432"[s % 11]


ID_NUMBER = "31011519870412203"
ID_NUMBER += id_checksum(ID_NUMBER)
PHONE = "13812345678"

# (category, prefix, label, text to synthesize)
SENSITIVE = [
    ("sensitive_phone", "call", f"给{PHONE}打电话", f"给{spoken_digits(PHONE)}打电话"),
    ("sensitive_phone", "call", "拨打幺三八零零幺三八零零零", "拨打幺三八零零幺三八零零零"),
    ("sensitive_id", "chat", f"我的身份证号是{ID_NUMBER}",
     f"我的身份证号是{spoken_digits(ID_NUMBER)}"),
    ("sensitive_plate", "chat", "查一下京A12345有没有违章", "查一下京A幺二三四五有没有违章"),
    ("sensitive_plate", "chat", "我的车牌号是沪AD12345", "我的车牌号是沪A，D幺二三四五"),
    ("sensitive_address", "nav", "导航到北京市海淀区中关村大街27号",
     "导航到北京市海淀区中关村大街27号"),
    ("sensitive_address", "nav", "把目的地设成上海市浦东新区世纪大道1198号3栋",
     "把目的地设成上海市浦东新区世纪大道1198号3栋"),
]

# --------------------------------------------------------------------------
# Base1 hypothesis simulation
# --------------------------------------------------------------------------

HOMOPHONE_WORDS = {
    "导航": "导行", "空调": "空条", "温度": "温肚", "电话": "店话", "周杰伦": "周杰轮",
    "加油站": "加油战", "晴天": "情天", "音乐": "音月", "车窗": "车床", "座椅": "坐椅",
    "停车场": "停车厂", "路况": "路矿", "天窗": "天床", "广播": "广拨", "相声": "想声",
    "循环": "寻环", "服务区": "服务去", "报销": "报消", "保养": "报养",
}
HOMOPHONE_CHARS = {
    "在": "再", "再": "在", "到": "道", "是": "事", "的": "得", "得": "的", "度": "肚",
    "一": "以", "个": "各", "放": "方", "去": "区", "首": "手", "开": "凯", "关": "官",
    "调": "掉", "点": "店", "下": "夏", "近": "进", "高": "搞", "路": "录", "风": "封",
    "天": "添", "他": "她", "那": "哪", "吗": "嘛", "了": "啦", "里": "理", "和": "合",
    "有": "又", "就": "旧", "上": "尚", "号": "好", "十": "石", "四": "是", "二": "而",
    "七": "期", "嗯": "恩", "行": "型", "对": "队", "好": "号", "吃": "迟", "前": "钱",
    "车": "扯", "后": "厚", "打": "达", "话": "化", "找": "照", "家": "加", "买": "卖",
}
FILLERS = ["的", "了", "啊", "一", "那", "就", "呃"]


def simulate_hyp(label: str, rng: np.random.Generator, guess: str = "") -> str:
    """Small-online-model style output: homophones, drops, insertions."""
    hyp = label.replace("【～】", guess).replace("～", guess)
    n_units = max(1, len(hyp) // 12)  # long texts get proportionally more errors
    if rng.random() < 0.28:
        return hyp  # correct
    n_err = sum(int(rng.choice([1, 1, 1, 2, 2, 3])) for _ in range(n_units))
    for _ in range(n_err):
        kind = rng.choice(["homo", "homo", "homo", "drop", "add"])
        if kind == "homo":
            words = [w for w in HOMOPHONE_WORDS if w in hyp]
            if words and rng.random() < 0.4:
                w = words[int(rng.integers(len(words)))]
                hyp = hyp.replace(w, HOMOPHONE_WORDS[w], 1)
                continue
            pos = [i for i, c in enumerate(hyp) if c in HOMOPHONE_CHARS]
            if pos:
                i = pos[int(rng.integers(len(pos)))]
                hyp = hyp[:i] + HOMOPHONE_CHARS[hyp[i]] + hyp[i + 1:]
                continue
            kind = "drop"
        # digit / Latin runs (numbers, plates, ids) are kept intact
        if kind == "drop" and len(hyp) > 2:
            pos = [i for i, c in enumerate(hyp) if not c.isascii()]
            i = pos[int(rng.integers(len(pos)))]
            hyp = hyp[:i] + hyp[i + 1:]
        else:
            pos = [i for i in range(len(hyp) + 1)
                   if not (0 < i < len(hyp) and hyp[i - 1].isascii() and hyp[i].isascii())]
            i = pos[int(rng.integers(len(pos)))]
            hyp = hyp[:i] + FILLERS[int(rng.integers(len(FILLERS)))] + hyp[i:]
    return hyp


# --------------------------------------------------------------------------
# DSP helpers (numpy only)
# --------------------------------------------------------------------------


def db(x: float) -> float:
    return 10 ** (x / 20)


def rms(x: np.ndarray) -> float:
    return float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0


def shaped_noise(n: int, sr: int, rng: np.random.Generator, gain_fn) -> np.ndarray:
    """White noise shaped in the frequency domain by |H(f)| = gain_fn(f)."""
    spec = np.fft.rfft(rng.standard_normal(n))
    f = np.fft.rfftfreq(n, 1 / sr)
    out = np.fft.irfft(spec * gain_fn(f), n)
    return out / (rms(out) + 1e-12)


def lowpass_resp(fc: float, order: int = 4):
    return lambda f: 1 / np.sqrt(1 + (f / fc) ** (2 * order))


def bandpass_resp(lo: float, hi: float, order: int = 2):
    def resp(f):
        with np.errstate(divide="ignore"):
            hp = 1 / np.sqrt(1 + (lo / np.maximum(f, 1e-3)) ** (2 * order))
        return hp / np.sqrt(1 + (f / hi) ** (2 * order))
    return resp


def smooth_random(n: int, sr: int, rng: np.random.Generator, rate_hz: float) -> np.ndarray:
    """Slow random control signal in roughly [-1, 1] (low-passed noise)."""
    x = shaped_noise(n, sr, rng, lowpass_resp(rate_hz, 2))
    return np.clip(x / 2.5, -1, 1)


@dataclass(frozen=True)
class Car:
    name: str
    f0: float          # engine firing frequency (Hz)
    rpm_var: float     # relative slow rpm variation
    harm_decay: float  # harmonic amplitude ~ k**-decay
    engine: float      # component levels (relative, linear)
    road: float
    road_fc: float
    wind: float
    wind_band: tuple[float, float]
    wind_mod: float    # Hz of gusts


CARS = [
    Car("idle_petrol_sedan", 27.0, 0.03, 1.0, 1.0, 0.15, 150, 0.03, (400, 1500), 0.10),
    Car("city_40kmh_hatchback", 42.0, 0.10, 1.2, 0.7, 0.6, 250, 0.15, (400, 2000), 0.20),
    Car("highway_110kmh_suv", 55.0, 0.05, 1.4, 0.45, 1.0, 400, 0.55, (500, 2800), 0.35),
    Car("diesel_van_60kmh", 33.0, 0.08, 0.8, 1.0, 0.7, 300, 0.25, (350, 1800), 0.25),
    Car("ev_80kmh_mpv", 58.0, 0.06, 1.8, 0.15, 0.9, 350, 0.45, (450, 2500), 0.30),
]


def car_noise(n: int, sr: int, car: Car, rng: np.random.Generator) -> np.ndarray:
    """Car-cabin noise, unit RMS."""
    t_rpm = smooth_random(n, sr, rng, 0.15)
    f0 = car.f0 * (1 + car.rpm_var * t_rpm)
    phase = 2 * np.pi * np.cumsum(f0) / sr
    engine = np.zeros(n)
    for k in range(1, 11):
        if k * car.f0 * (1 + car.rpm_var) >= sr / 2 * 0.9:
            break
        amp = k ** -car.harm_decay * (0.6 + 0.8 * rng.random())
        engine += amp * np.sin(k * phase + rng.uniform(0, 2 * np.pi))
    # half-order (uneven firing) component
    engine += 0.25 * np.sin(0.5 * phase + rng.uniform(0, 2 * np.pi))
    engine /= rms(engine) + 1e-12
    engine *= 1 + 0.1 * smooth_random(n, sr, rng, 0.5)

    def road_resp(f):  # brown/pink mix, low-passed
        f = np.maximum(f, 5.0)
        return (1 / f + 0.05 / np.sqrt(f)) * lowpass_resp(car.road_fc, 3)(f)

    road = shaped_noise(n, sr, rng, road_resp)
    wind = shaped_noise(n, sr, rng, bandpass_resp(*car.wind_band))
    wind *= 1 + 0.5 * smooth_random(n, sr, rng, car.wind_mod)
    mix = car.engine * engine + car.road * road + car.wind * wind
    return mix / (rms(mix) + 1e-12)


def FLOOR_RESP(f):  # noqa: N802 - noise floor spectrum
    return 1 / np.sqrt(np.maximum(f, 20.0)) * lowpass_resp(1000, 2)(f)


def active_span(x: np.ndarray, sr: int, margin_s: float = 0.02) -> tuple[int, int]:
    """First/last sample of speech activity (10 ms frame energy)."""
    hop = max(1, sr // 100)
    nfr = len(x) // hop
    e = np.sqrt(np.mean(x[: nfr * hop].reshape(nfr, hop) ** 2, axis=1) + 1e-12)
    edb = 20 * np.log10(e)
    thr = max(edb.max() - 40, -55)
    idx = np.nonzero(edb > thr)[0]
    if idx.size == 0:
        return 0, len(x)
    m = int(margin_s * sr)
    return max(0, idx[0] * hop - m), min(len(x), (idx[-1] + 1) * hop + m)


# --------------------------------------------------------------------------
# recording specs and rendering
# --------------------------------------------------------------------------


@dataclass
class Spec:
    prefix: str
    label: str
    parts: list[tuple[str, str]]      # ("s", speech) | ("m", mumble)
    speaker: str
    kind: str = "ordinary"            # ordinary|short|long_seg|long_noseg|special
    planted: list[str] = field(default_factory=list)
    guess: str = ""                   # hyp text for the unclear span
    hyp_override: str | None = None   # simulated hyp based on other text
    sr: int = 16000
    channels: int = 1
    snr_db: float | None = None       # cabin noise mix
    clip: bool = False
    pad: tuple[float, float] | None = None
    total: float | None = None        # force total duration (pads the tail)
    min_total: float | None = None    # long recordings: minimal duration
    gaps: list[float] = field(default_factory=list)
    level_db: float = -20.0
    id: str = ""


def pad_len(rng: np.random.Generator) -> float:
    """Leading/trailing silence in 0.1..1.5 s, skewed towards short pauses."""
    return 0.1 + 1.4 * float(rng.beta(1.2, 2.4))


def render(spec: Spec, tts: Espeak, rng: np.random.Generator):
    """Return (audio [n] or [n, 2] float, segments or None)."""
    v = SPEAKERS[spec.speaker]
    sr = spec.sr
    pieces: list[tuple[np.ndarray, str, str]] = []
    for kind, text in spec.parts:
        if kind == "m":  # mumbled, muffled, faster -> unclear span
            y = tts.synth(text, v.name, v.rate + 60, v.pitch, v.prange)
        else:
            y = tts.synth(text, v.name, v.rate, v.pitch, v.prange)
        a, b = active_span(y, tts.sr)
        y = soxr.resample(y[a:b], tts.sr, sr, quality="HQ").astype(np.float64)
        if kind == "m":
            y = np.fft.irfft(np.fft.rfft(y) * lowpass_resp(600, 3)(np.fft.rfftfreq(len(y), 1 / sr)), len(y))
            y *= db(-16)
        pieces.append((y, kind, text))

    if spec.min_total is not None:
        # long recordings: keep the shortest sentence prefix reaching min_total
        need = int(spec.min_total * sr) - int(sum(spec.pad) * sr)
        acc = 0
        for k, (y, _, _) in enumerate(pieces):
            acc += len(y) + (int(spec.gaps[k - 1] * sr) if k else 0)
            if acc >= need:
                pieces = pieces[: k + 1]
                break
        else:
            raise RuntimeError(f"{spec.id}: conversation too short ({acc / sr:.1f} s)")
    lead, trail = spec.pad if spec.pad else (pad_len(rng), pad_len(rng))
    chunks = [np.zeros(int(lead * sr))]
    segments = []
    pos = len(chunks[0])
    speech_ranges = []
    for i, (y, kind, text) in enumerate(pieces):
        if i > 0:
            gap = spec.gaps[i - 1] if spec.gaps else (0.05 if kind == "m" or pieces[i - 1][1] == "m" else 0.0)
            g = np.zeros(int(gap * sr))
            chunks.append(g)
            pos += len(g)
        chunks.append(y)
        segments.append({"start": round(pos / sr, 3), "end": round((pos + len(y)) / sr, 3), "text": text})
        if kind == "s":
            speech_ranges.append((pos, pos + len(y)))
        pos += len(y)
    n_tail = int(trail * sr)
    if spec.total is not None:
        n_tail = max(n_tail, int(spec.total * sr) - pos)
    chunks.append(np.zeros(n_tail))
    x = np.concatenate(chunks)

    # speech level
    speech = np.concatenate([x[a:b] for a, b in speech_ranges])
    x *= db(spec.level_db) / (rms(speech) + 1e-12)
    speech_rms = db(spec.level_db)
    # cabin noise
    if spec.snr_db is not None:
        car = CARS[int(rng.integers(len(CARS)))]
        x += car_noise(len(x), sr, car, rng) * speech_rms / db(spec.snr_db)
    # very low noise floor instead of digital silence: -68 dBFS, pinkish
    # (mic self-noise / electrical hum), which FLAC compresses far better
    # than a white floor of the same level
    x += shaped_noise(len(x), sr, rng, FLOOR_RESP) * db(-68)
    if spec.clip:
        # ~3.5 % of all samples end up at full scale
        x *= 1.0 / np.quantile(np.abs(x), 1 - 0.035)
    if spec.channels == 2:
        g = rng.uniform(0.7, 0.85)
        x2 = x * g + shaped_noise(len(x), sr, rng, FLOOR_RESP) * db(-70)
        x = np.stack([x, x2], axis=1)
    x = np.clip(x, -1.0, 32767 / 32768)
    return x, segments


def build_specs(rng: np.random.Generator) -> list[Spec]:
    spk_ids = list(SPEAKERS)
    specs: list[Spec] = []

    def spk() -> str:
        return spk_ids[int(rng.integers(len(spk_ids)))]

    ordinary: list[Spec] = []
    for prefix, sents in ORDINARY.items():
        for s in sents:
            ordinary.append(Spec(prefix, s, [("s", s)], spk(), level_db=rng.uniform(-26, -19)))
    specs += ordinary

    for s in SHORT:
        specs.append(Spec("chat", s, [("s", s)], spk(), kind="short", planted=["short"],
                          pad=(rng.uniform(0.05, 0.15), rng.uniform(0.05, 0.2)),
                          level_db=rng.uniform(-24, -19)))

    for i, conv in enumerate(CONVERSATIONS):
        with_seg = i < 3
        specs.append(Spec(
            "conv", "".join(conv), [("s", s) for s in conv], ["spk1", "spk3", "spk6", "spk5"][i],
            kind="long_seg" if with_seg else "long_noseg",
            planted=["long_with_segments" if with_seg else "long_without_segments"],
            gaps=[float(rng.uniform(0.3, 1.0)) for _ in conv[1:]],
            pad=(rng.uniform(0.3, 0.8), rng.uniform(0.3, 0.8)),
            min_total=float(rng.uniform(32.0, 34.0)),
            level_db=rng.uniform(-25, -21),
            snr_db=float(rng.uniform(25, 35)) if i == 1 else None,
        ))

    for prefix, label, parts, guess in FUZZY:
        specs.append(Spec(prefix, label, list(parts), spk(), kind="special",
                          planted=["fuzzy"], guess=guess, level_db=rng.uniform(-24, -19)))

    p, s = EMPTY_LABEL_SPEECH
    specs.append(Spec(p, "", [("s", s)], spk(), kind="special", planted=["empty_label"]))

    p, s = MISMATCH_SPEECH
    specs.append(Spec(p, MISMATCH_LABEL, [("s", s)], "spk4", kind="special",
                      planted=["rate_mismatch"], hyp_override=s, pad=(0.15, 0.1), total=1.5))

    for cat, p, label, spoken in SENSITIVE:
        specs.append(Spec(p, label, [("s", spoken)], spk(), kind="special", planted=[cat],
                          level_db=rng.uniform(-24, -19)))

    # format / quality variants drawn (disjoint) from the ordinary pool;
    # only sentences with >= 4 characters so the effects are clearly audible
    pool = [o for o in ordinary if len(o.label) >= 4]
    order = rng.permutation(len(pool))
    picks = iter(pool[i] for i in order)
    for _ in range(3):
        o = next(picks); o.sr = 8000; o.planted.append("sr_8k")
    for _ in range(3):
        o = next(picks); o.sr = 44100; o.planted.append("sr_44k")
    for _ in range(3):
        o = next(picks); o.channels = 2; o.planted.append("stereo")
    for snr in (1.0, 3.0, 4.5):
        o = next(picks); o.snr_db = snr; o.planted.append("noisy")
    for _ in range(2):
        o = next(picks); o.clip = True; o.level_db = -12.0; o.planted.append("clipped")
    # mild cabin noise (high SNR) on ~25 % of the remaining ordinary ones
    for o in ordinary:
        if not o.planted and rng.random() < 0.25:
            o.snr_db = float(rng.uniform(25, 35))

    # ids: per prefix, numbered in a seeded shuffled order so planted records
    # are interleaved with ordinary ones
    by_prefix: dict[str, list[Spec]] = {}
    for sp in specs:
        by_prefix.setdefault(sp.prefix, []).append(sp)
    for prefix, group in by_prefix.items():
        perm = rng.permutation(len(group)) if prefix != "conv" else range(len(group))
        for n, j in enumerate(perm, 1):
            group[j].id = f"{prefix}_{n:03d}"
    specs.sort(key=lambda sp: sp.id)
    return specs


PLANTED_KEYS = [
    "short", "long_with_segments", "long_without_segments", "fuzzy", "empty_label",
    "rate_mismatch", "sensitive_phone", "sensitive_id", "sensitive_plate",
    "sensitive_address", "sr_8k", "sr_44k", "stereo", "noisy", "clipped",
]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args(argv)
    out: Path = args.out

    rng = np.random.default_rng(SEED)
    tts = Espeak()
    specs = build_specs(rng)

    for sub in ("audio", "noise"):
        if (out / sub).exists():
            shutil.rmtree(out / sub)
        (out / sub).mkdir(parents=True)

    # noise clips
    nrng = np.random.default_rng(SEED + 1)
    for k, car in enumerate(CARS, 1):
        dur = 6.0 + 0.5 * (k - 1)
        x = car_noise(int(dur * 16000), 16000, car, nrng) * db(-25)
        x = np.clip(x, -1.0, 32767 / 32768)
        sf.write(out / "noise" / f"car_{k}.flac", x, 16000, subtype="PCM_16", compression_level=1.0)

    # recordings
    hrng = np.random.default_rng(SEED + 2)
    arng = np.random.default_rng(SEED + 3)
    batch_rng = np.random.default_rng(SEED + 4)
    planted: dict[str, list[str]] = {k: [] for k in PLANTED_KEYS}
    rows, tsv = [], []
    for sp in specs:
        x, segments = render(sp, tts, arng)
        if sp.kind in ("long_seg", "long_noseg"):
            sp.label = "".join(seg["text"] for seg in segments)
        rel = f"audio/{sp.id}.flac"
        sf.write(out / rel, x, sp.sr, subtype="PCM_16", compression_level=1.0)
        info = sf.info(str(out / rel))
        for cat in sp.planted:
            planted[cat].append(sp.id)
        row = {"id": sp.id, "audio": rel, "offset": 0.0,
               "duration": round(info.frames / info.samplerate, 4), "text": sp.label}
        if sp.label:
            # hyp_override: what is actually audible (rate_mismatch) - recognised correctly
            hyp = sp.hyp_override or simulate_hyp(sp.label, hrng, sp.guess)
            row["hyp"] = hyp
            tsv.append(f"{sp.id}\t{hyp}")
        row["speaker"] = sp.speaker
        row["batch"] = "batch1" if batch_rng.random() < 0.55 else "batch2"
        if sp.kind == "long_seg":
            row["segments"] = segments
        row["sample_rate"] = info.samplerate
        row["channels"] = info.channels
        rows.append(row)
    tts.close()

    with open(out / "manifest.jsonl", "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False) + "\n")
    (out / "base1.tsv").write_text("\n".join(tsv) + "\n", encoding="utf-8")
    (out / "planted.json").write_text(
        json.dumps(planted, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")

    # summary
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    total = sum(r["duration"] for r in rows)
    n_ord = sum(1 for sp in specs if sp.kind == "ordinary")
    n_err = sum(1 for r in rows if "hyp" in r and r["hyp"] != r["text"].replace("【～】", "").replace("～", ""))
    print(f"recordings: {len(rows)} ({n_ord} ordinary utterances), "
          f"noise clips: {len(CARS)}, speakers: {len(set(r['speaker'] for r in rows))}")
    print(f"total duration: {total:.1f} s ({total / 60:.1f} min), size: {size / 1e6:.2f} MB")
    print(f"hyps: {len(tsv)} ({n_err} differ from label)")
    for k, ids in planted.items():
        print(f"  {k:22s} {len(ids):2d}  {' '.join(ids)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
