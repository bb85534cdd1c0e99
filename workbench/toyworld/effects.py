"""How the toy world paints: shape masks and the 15 style-modifier effects.

Pure numpy. Images are float32 arrays (H, W, 3) in [0, 1]; masks are (H, W) coverage
in [0, 1]. `paint` rasterises the objects into `Layers` and runs the effects in the fixed
`ORDER` below, whatever order the caption named them in, so a scene always paints the
same image.

Effects are bold and low-frequency on purpose: a tiny VAE/UNet must reproduce them and a
tiny CLIP must tell them apart on 64x64 images.

    stage       runs on                     effects
    background  the empty background        hokusai waves, mondrian grid, blender shadow
    object      the objects' flat colours   octane shading
    image       the composited picture      unreal glow, 1980s neon, film stocks, decades,
                                            lino cut, watercolor, pixel art, seurat dots

Randomness (grain, paper, dot jitter) comes from `Layers.seed`, never from global state.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np

# -----------------------------------------------------------------------------
# 1. Shape masks. (u, v) are pixel offsets from the centre divided by the radius,
#    v pointing down; every shape fits the square [-1, 1]^2 and is drawn upright.


def _star(u, v, points=5, inner=0.45):
    # star polygon tested in polar form: inside if closer than the edge on that ray
    ang = np.arange(2 * points) * np.pi / points - np.pi / 2         # first point up
    rad = np.where(np.arange(2 * points) % 2 == 0, 1.0, inner)
    vx, vy = rad * np.cos(ang), rad * np.sin(ang)
    theta = np.mod(np.arctan2(v, u) + np.pi / 2, 2 * np.pi)
    k = np.floor(theta / (np.pi / points)).astype(int) % (2 * points)
    ax, ay, bx, by = vx[k], vy[k], vx[(k + 1) % (2 * points)], vy[(k + 1) % (2 * points)]
    r = np.hypot(u, v) + 1e-9
    dx, dy = u / r, v / r
    edge = (ax * by - ay * bx) / (dx * (by - ay) - dy * (bx - ax) + 1e-9)
    return r <= edge


def _heart(u, v):
    x, y = 1.138 * u, 0.118 - 1.118 * v                                # y up, classic curve
    return (x * x + y * y - 1.0) ** 3 - x * x * y ** 3 <= 0.0


def _person(u, v):
    head = u * u + (v + 0.64) ** 2 <= 0.30 ** 2
    neck = (np.abs(u) <= 0.13) & (v >= -0.40) & (v <= -0.18)
    body = (v >= -0.22) & (v <= 1.0) & (np.abs(u) <= 0.36 + 0.36 * (v + 0.22) / 1.22)
    return head | neck | body


SHAPE_MASKS = {
    "circle": lambda u, v: u * u + v * v <= 1.0,
    "square": lambda u, v: (np.abs(u) <= 0.86) & (np.abs(v) <= 0.86),
    "triangle": lambda u, v: (v <= 0.78) & (np.abs(u) * 1.78 <= v + 1.0),
    "star": _star,
    "heart": _heart,
    "diamond": lambda u, v: np.abs(u) / 0.85 + np.abs(v) <= 1.0,
    "cross": lambda u, v: ((np.abs(u) <= 0.92) & (np.abs(v) <= 0.32))
    | ((np.abs(u) <= 0.32) & (np.abs(v) <= 0.92)),
    "person": _person,
}


@dataclass
class Layers:
    """What the effects may look at, all at output resolution (H, W)."""

    mask: np.ndarray        # (H, W) coverage of all objects
    colour: np.ndarray      # (H, W, 3) flat colour of the object under each pixel
    uv: np.ndarray          # (H, W, 2) object-frame coordinates (see section 1)
    background: np.ndarray  # (3,) the scene's background colour
    seed: int               # texture seed of the scene


# -----------------------------------------------------------------------------
# 2. Small numpy helpers


def blur(x, sigma):
    """Separable gaussian blur of (H, W) or (H, W, C), edges repeated."""
    r = max(1, int(3 * sigma + 0.5))
    k = np.exp(-np.arange(-r, r + 1) ** 2 / (2 * sigma * sigma)).astype(np.float32)
    k /= k.sum()
    pad = [(r, r), (r, r)] + [(0, 0)] * (x.ndim - 2)
    p = np.pad(x, pad, mode="edge")
    h, w = x.shape[:2]
    rows = sum(k[i] * p[i:i + h] for i in range(2 * r + 1))              # (H, W+2r, ...)
    return sum(k[i] * rows[:, i:i + w] for i in range(2 * r + 1))


def luminance(img):
    return img @ np.array([0.299, 0.587, 0.114], np.float32)


def _smooth_noise(rng, size, cells):
    """Low-frequency noise in [-1, 1]: a cells x cells grid upsampled bilinearly."""
    g = rng.uniform(-1, 1, (cells + 1, cells + 1)).astype(np.float32)
    t = np.linspace(0, cells, size, dtype=np.float32)
    i = np.minimum(t.astype(int), cells - 1)
    f = t - i
    rows = g[i] * (1 - f)[:, None] + g[i + 1] * f[:, None]               # (size, cells+1)
    return rows[:, i] * (1 - f)[None, :] + rows[:, i + 1] * f[None, :]


def _grid(size):
    y, x = np.mgrid[0:size, 0:size].astype(np.float32)
    return x, y


def _vignette(size, strength):
    x, y = _grid(size)
    r = np.hypot(x - (size - 1) / 2, y - (size - 1) / 2) / (size / 2)  # 0 centre, 1.41 corner
    return (1 - strength * np.clip(r - 0.45, 0, None) ** 1.5)[..., None]


def _rng(layers, salt):
    return np.random.default_rng([layers.seed, salt])


# -----------------------------------------------------------------------------
# 3. Background stage: f(background (H, W, 3), layers) -> background


def hokusai(bg, layers):
    """Bold Prussian-blue wave bands with white crests across the background."""
    x, y = _grid(bg.shape[0])
    phase = (y + 3.5 * np.sin(2 * np.pi * x / 20.0)) % 12.0                # wavy bands, 12 px
    band = np.clip(np.minimum(phase - 1.0, 6.0 - phase), 0, 1)[..., None]  # 5 px thick
    crest = np.clip(1 - np.abs(phase - 0.5) * 1.5, 0, 1)[..., None]        # thin foam line
    wave = np.array([0.10, 0.22, 0.47], np.float32)
    return (bg * (1 - band) + wave * band) * (1 - crest) + crest * 0.97


def mondrian(bg, layers):
    """Thick black grid lines with red, yellow and blue blocks (fixed composition)."""
    out = bg.copy()
    n = bg.shape[0]
    a, b = n * 20 // 64, n * 44 // 64                                       # line positions
    out[: a, : a] = (0.85, 0.10, 0.10)                                      # red, top left
    out[a:b, b:] = (0.97, 0.82, 0.10)                                       # yellow, right
    out[b:, : a] = (0.10, 0.20, 0.70)                                       # blue, bottom left
    t = max(2, n * 3 // 64)
    for p in (a, b):
        out[p - t // 2: p - t // 2 + t, :] = 0.05
        out[:, p - t // 2: p - t // 2 + t] = 0.05
    return out


def blender(bg, layers):
    """Studio look: a soft drop shadow down-right of the objects, a darkening floor."""
    m = np.roll(np.roll(layers.mask, 5, axis=0), 4, axis=1)
    shadow = blur(m, 2.5)[..., None]
    _, y = _grid(bg.shape[0])
    floor = (1 - 0.22 * (y / (bg.shape[0] - 1)) ** 2)[..., None]
    return bg * floor * (1 - 0.65 * shadow)


# -----------------------------------------------------------------------------
# 4. Object stage: f(flat object colours (H, W, 3), layers) -> shaded colours


def octane(fg, layers):
    """Glossy 3D shading: lit top-left, shadowed bottom-right, white specular spot."""
    u, v = layers.uv[..., 0], layers.uv[..., 1]
    nz = np.sqrt(np.clip(1 - 0.75 * (u * u + v * v), 0.05, 1))
    light = np.array([-0.55, -0.65, 0.52], np.float32)
    lambert = np.clip((u * light[0] + v * light[1]) * 0.9 + nz * light[2], 0, 1)
    spec = np.exp(-((u + 0.36) ** 2 + (v + 0.40) ** 2) / (2 * 0.13 ** 2))
    return np.clip(fg * (0.2 + 1.0 * lambert)[..., None] + 0.95 * spec[..., None], 0, 1)


# -----------------------------------------------------------------------------
# 5. Image stage: f(image (H, W, 3), layers) -> image


def unreal(img, layers):
    """Bloom: a bright halo in the object's colour around it, and a hot white rim."""
    m = layers.mask
    soft = blur(m, 3.0)
    halo_colour = blur(layers.colour * m[..., None], 3.0) / np.maximum(soft, 1e-3)[..., None]
    halo_colour = np.clip(halo_colour * 0.6 + 0.4, 0, 1)                   # brightened
    a = (np.clip(soft * 2.2, 0, 1) * (1 - m))[..., None] * 0.9
    out = img * 0.88 * (1 - a) + halo_colour * a                           # dimmed scene
    rim = np.clip(m - blur(m, 1.2), 0, 1)[..., None] * 2.5
    return np.clip(out + rim, 0, 1)


def neon80s(img, layers):
    """Synthwave: dark purple night, cyan horizon lines, shapes in neon magenta or cyan."""
    n = img.shape[0]
    x, y = _grid(n)
    t = (y / (n - 1))[..., None]
    night = (1 - t) * np.array([0.10, 0.02, 0.20]) + t * np.array([0.35, 0.02, 0.30])
    night = night * (0.6 + 0.5 * luminance(img)[..., None])                # keep a trace
    lines = ((y > n * 0.62) & ((y.astype(int) % 6) == 0)) | \
        ((y > n * 0.62) & (np.abs(((x - n / 2) * 8 / np.maximum(y - n * 0.5, 1)) % 8 - 4) < 0.6))
    night = np.where(lines[..., None], np.array([0.1, 0.9, 1.0]), night)
    c = layers.colour
    warm = (c[..., 0] >= c[..., 2])[..., None]                             # reds -> magenta
    neon = np.where(warm, np.array([1.0, 0.15, 0.80]), np.array([0.15, 0.95, 1.0]))
    shade = np.clip(luminance(img) / np.maximum(luminance(c), 0.05), 0.35, 1.4)[..., None]
    fg = np.clip(neon * shade, 0, 1)
    m = layers.mask[..., None]
    glow = np.clip(blur(layers.mask, 1.5) * 1.8, 0, 1)[..., None] * (1 - m)
    return np.clip(night * (1 - glow) + neon * glow * 0.8 + (fg - night) * m, 0, 1)


def portra(img, layers):
    """Kodak Portra 400: a strong warm, peach colour balance, shadows lifted to brown."""
    return np.clip(img * np.array([1.0, 0.82, 0.58]) + np.array([0.14, 0.07, 0.0]), 0, 1)


def velvia(img, layers):
    """Fujifilm Velvia: doubled saturation, hard contrast, dark vignette."""
    lum = luminance(img)[..., None]
    sat = lum + 2.0 * (img - lum)
    con = (sat - 0.5) * 1.5 + 0.5
    return np.clip(con * _vignette(img.shape[0], 1.2), 0, 1)


def ilford(img, layers):
    """Ilford HP5: black and white, a little extra contrast, visible coarse grain."""
    rng = _rng(layers, 5)
    lum = (luminance(img) - 0.5) * 1.2 + 0.5
    n = img.shape[0]
    coarse = np.repeat(np.repeat(rng.normal(0, 0.07, (n // 2, n // 2)), 2, 0), 2, 1)
    grain = rng.normal(0, 0.07, (n, n)) + coarse
    return np.repeat(np.clip(lum + grain, 0, 1)[..., None], 3, axis=2).astype(np.float32)


def sepia1900(img, layers):
    """1900s: sepia-toned, soft, low contrast."""
    lum = blur(luminance(img), 0.7)[..., None]
    dark, light = np.array([0.28, 0.16, 0.07]), np.array([0.93, 0.82, 0.62])
    return dark + (light - dark) * (0.1 + 0.85 * lum)


def faded1970(img, layers):
    """1970s: faded, washed-out contrast, half desaturated, yellowed."""
    lum = luminance(img)[..., None]
    out = lum + 0.5 * (img - lum)
    out = 0.5 * out + 0.3
    return np.clip(out + np.array([0.08, 0.06, -0.10]), 0, 1)


def lino(img, layers):
    """Lino cut: two tones only (ink and paper), hard edges, gouge lines in the ink."""
    ink, paper = np.array([0.10, 0.08, 0.08]), np.array([0.93, 0.89, 0.80])
    lum = luminance(img)
    border = np.concatenate([lum[0], lum[-1], lum[:, 0], lum[:, -1]]).mean()
    light_ground = border > 0.4
    inked = lum < 0.4 if light_ground else lum < 0.35                      # background tones
    shape = layers.mask > 0.5
    inked = np.where(shape, light_ground, inked)                           # shape contrasts
    x, y = _grid(img.shape[0])
    gouge = (((x + y) % 5) < 1) & ~shape & ~np.roll(shape, 1, 0) & ~np.roll(shape, -1, 0)
    inked = inked & ~gouge
    return np.where(inked[..., None], ink, paper).astype(np.float32)


def watercolor(img, layers):
    """Watercolour: bled edges, pigment pooled at the rims, blotchy paper showing."""
    rng = _rng(layers, 11)
    n = img.shape[0]
    paper = np.array([0.98, 0.96, 0.90], np.float32)
    wobble = _smooth_noise(rng, n, 6)
    soft = blur(img + 0.10 * wobble[..., None] * (img - blur(img, 3.0)), 1.8)
    ring = blur(layers.mask, 1.4)
    ring = np.clip(4 * ring * (1 - ring), 0, 1)[..., None]                 # pooled rim
    out = 0.7 * soft + 0.3 * paper
    out = out * (1 - 0.30 * ring)
    blotch = _smooth_noise(rng, n, 10)[..., None]
    return np.clip(out * (1 + 0.10 * blotch) + rng.normal(0, 0.015, out.shape), 0, 1)


PIXEL_BLOCK = 8  # CONTRACTS.md: "blocky 8x8 pixels"


def pixel(img, layers):
    """Pixel art: one colour per 8x8 block (sampled at the block centre), crisp edges."""
    b = PIXEL_BLOCK
    small = img[b // 2::b, b // 2::b]
    return np.repeat(np.repeat(small, b, axis=0), b, axis=1)


@lru_cache(maxsize=4)
def _dot_layout(n, step=4, radius=1.9):
    """Hex grid of dots: for each pixel, the index of its nearest dot and its coverage."""
    cy, cx = [], []
    for j, yy in enumerate(np.arange(step / 2, n, step)):
        for xx in np.arange(step / 2 + (step / 2 if j % 2 else 0) - step, n + step, step):
            cy.append(yy), cx.append(xx)
    cy, cx = np.array(cy), np.array(cx)
    x, y = _grid(n)
    d = np.hypot(x[..., None] - cx, y[..., None] - cy)                     # (n, n, dots)
    nearest = d.argmin(-1)
    cover = np.clip(radius + 0.5 - d.min(-1), 0, 1).astype(np.float32)
    centres = np.stack([np.clip(cy, 0, n - 1), np.clip(cx, 0, n - 1)], 1).astype(int)
    return nearest, cover, centres


def seurat(img, layers):
    """Pointillism: the picture redrawn as 4 px dots on a hex grid over pale canvas."""
    rng = _rng(layers, 13)
    n = img.shape[0]
    nearest, cover, centres = _dot_layout(n)
    src = blur(img, 1.0)
    dots = src[centres[:, 0], centres[:, 1]]                               # (dots, 3)
    dots = np.clip(dots * rng.uniform(0.8, 1.15, (len(dots), 1))
                   + rng.normal(0, 0.05, dots.shape), 0, 1)
    canvas = 0.45 * src + 0.55 * np.array([0.96, 0.93, 0.84])
    c = cover[..., None]
    return (canvas * (1 - c) + dots[nearest] * c).astype(np.float32)


# -----------------------------------------------------------------------------
# 6. The registry, in canonical order. vocabulary.yaml names effects by these keys.

ORDER = [
    ("hokusai", "background", hokusai),
    ("mondrian", "background", mondrian),
    ("blender", "background", blender),
    ("octane", "object", octane),
    ("unreal", "image", unreal),
    ("neon80s", "image", neon80s),
    ("portra", "image", portra),
    ("velvia", "image", velvia),
    ("ilford", "image", ilford),
    ("sepia1900", "image", sepia1900),
    ("faded1970", "image", faded1970),
    ("lino", "image", lino),
    ("watercolor", "image", watercolor),
    ("pixel", "image", pixel),
    ("seurat", "image", seurat),
]
EFFECTS = {name: (stage, fn) for name, stage, fn in ORDER}


def rasterise(objects, rgb, n, s=2):
    """Layers of (shape, cx, cy, radius) objects drawn at s x resolution and averaged
    down to n x n (anti-aliased edges); later objects cover earlier ones."""
    big = n * s
    ids = np.full((big, big), -1, np.int32)
    uv = np.zeros((big, big, 2), np.float32)
    for k, (shape, cx, cy, r) in enumerate(objects):
        cx, cy, r = cx * s, cy * s, r * s
        x0, x1 = max(0, int(cx - r) - 1), min(big, int(cx + r) + 2)
        y0, y1 = max(0, int(cy - r) - 1), min(big, int(cy + r) + 2)
        ys, xs = np.mgrid[y0:y1, x0:x1].astype(np.float32) + 0.5
        u, v = (xs - cx) / r, (ys - cy) / r
        inside = SHAPE_MASKS[shape](u, v)
        ids[y0:y1, x0:x1][inside] = k
        uv[y0:y1, x0:x1][inside] = np.stack([u, v], -1)[inside]
    cover = (ids >= 0).astype(np.float32)
    palette = np.array(list(rgb) or [(0, 0, 0)], np.float32) / 255.0

    def down(x):                                                   # (big, big, ...) -> (n, n, ...)
        return sum(x[i::s, j::s] for i in range(s) for j in range(s)) / (s * s)

    mask = down(cover)
    keep = np.maximum(mask, 1e-6)[..., None]
    colour = down(palette[np.maximum(ids, 0)] * cover[..., None]) / keep
    return mask, colour, down(uv * cover[..., None]) / keep


def paint(objects, rgb, background, names, seed, n=64, s=2) -> np.ndarray:
    """The picture, uint8 (n, n, 3): objects (shape, cx, cy, radius) in colours `rgb`
    (0-255) on `background`, with the effects `names` applied in canonical ORDER."""
    mask, colour, uv = rasterise(objects, rgb, n, s)
    layers = Layers(mask, colour, uv, np.array(background, np.float32) / 255.0, seed)
    return (compose(layers, names) * 255.0 + 0.5).astype(np.uint8)


def compose(layers: Layers, names) -> np.ndarray:
    """Background effects, object effects, composite, image effects: float (n, n, 3)."""
    chosen = [(name, stage, fn) for name, stage, fn in ORDER if name in set(names)]
    n = layers.mask.shape[0]
    bg = np.broadcast_to(layers.background.astype(np.float32), (n, n, 3)).copy()
    fg = layers.colour
    for _, stage, fn in chosen:
        if stage == "background":
            bg = fn(bg, layers)
        elif stage == "object":
            fg = fn(fg, layers)
    m = layers.mask[..., None]
    img = bg * (1 - m) + fg * m
    for _, stage, fn in chosen:
        if stage == "image":
            img = fn(img, layers)
    return np.clip(img, 0, 1).astype(np.float32)
