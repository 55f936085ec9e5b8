#!/usr/bin/python3
"""Reference fixtures for Tests/Imaging (torchvision 0.14 + Pillow 9.4 + numpy 1.24; dev only, CI never runs it).

Rerun from the repository root:
    /usr/bin/python3 Tests/Fixtures/imaging/make_imaging_fixtures.py [path/to/shared/testdata]
(default testdata: ../shared/testdata beside the checkout). It rewrites every file in this folder except
itself: small generated input images (PNG variants, EXIF orientations, unsupported formats) and
references.json with what PIL + torchvision produce for each case.

The reference pipeline is torchvision's ImageFolder path:
    img = Image.open(path); [ImageOps.exif_transpose(img)]; img = img.convert("RGB" | "L")
    T.Compose([T.Resize(...), T.CenterCrop(...)])  -> the uint8 PIL image recorded as "u8" (HWC)
    T.ToTensor(), [T.Normalize(mean, std)]          -> the float32 CHW tensor ("tensor_sha256", samples)
"""
import base64, hashlib, io, json, os, struct, sys, zlib

import numpy as np
import torch
import torchvision
import torchvision.transforms as T
import PIL
from PIL import Image, ImageOps

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
SHARED = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(REPO, "..", "shared", "testdata"))
IMAGENET_MEAN = [0.485, 0.456, 0.406]
IMAGENET_STD = [0.229, 0.224, 0.225]

assert PIL.__version__ == "9.4.0", PIL.__version__
assert torchvision.__version__.startswith("0.14"), torchvision.__version__


# ---------------------------------------------------------------- facts checked once, documented in the tests
def check_pil_facts():
    # convert("L") is L = (R*19595 + G*38470 + B*7471 + 0x8000) >> 16 for every one of the 2^24 RGB triples.
    v = np.arange(1 << 24, dtype=np.uint32)
    rgb = np.stack([(v >> 16) & 255, (v >> 8) & 255, v & 255], axis=1).astype(np.uint8).reshape(4096, 4096, 3)
    pil_l = np.asarray(Image.fromarray(rgb, "RGB").convert("L")).astype(np.int64)
    r, g, b = (rgb[..., i].astype(np.int64) for i in range(3))
    assert np.array_equal(pil_l, (r * 19595 + g * 38470 + b * 7471 + 0x8000) >> 16)
    # ToTensor divides by 255 (not a reciprocal multiply); Normalize is (x - mean) / std in float32.
    u8 = np.random.RandomState(7).randint(0, 256, (5, 6, 3)).astype(np.uint8)
    x = T.ToTensor()(Image.fromarray(u8))
    assert np.array_equal(x.numpy(), u8.transpose(2, 0, 1).astype(np.float32) / np.float32(255))
    n = T.Normalize(IMAGENET_MEAN, IMAGENET_STD)(x).numpy()
    m = np.array(IMAGENET_MEAN, np.float32)[:, None, None]
    s = np.array(IMAGENET_STD, np.float32)[:, None, None]
    assert np.array_equal(n, (x.numpy() - m) / s)


# ---------------------------------------------------------------- raw PNG writer (PIL cannot write 16-bit RGB or Adam7)
def png_bytes(width, height, color_type, bit_depth, raw_rows, extra_chunks=(), interlace=0):
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, interlace)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr)
    for kind, data in extra_chunks:
        out += chunk(kind, data)
    out += chunk(b"IDAT", zlib.compress(raw_rows, 9)) + chunk(b"IEND", b"")
    return out


def rows_unfiltered(arr_bytes_rows):
    return b"".join(b"\x00" + r for r in arr_bytes_rows)


def adam7_rows(pix):  # pix: HxWxC uint8 (8-bit samples)
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = b""
    for x0, y0, dx, dy in passes:
        sub = pix[y0::dy, x0::dx]
        if sub.shape[0] == 0 or sub.shape[1] == 0:
            continue
        out += rows_unfiltered([row.tobytes() for row in sub])
    return out


def write(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def make_inputs():
    rs = np.random.RandomState(20240601)
    h, w = 17, 23
    # 16-bit grayscale: PIL opens it as mode "I" and convert("RGB"/"L") clamps to 0..255 (no scaling).
    g16 = rs.randint(0, 65536, (h, w)).astype(">u2")
    g16[0, :8] = [0, 1, 200, 255, 256, 257, 40000, 65535]
    write("png16_gray.png", png_bytes(w, h, 0, 16, rows_unfiltered([r.tobytes() for r in g16])))
    # 16-bit RGB / RGBA / gray+alpha: PIL keeps the high byte of each sample.
    for name, ct, ch in (("png16_rgb.png", 2, 3), ("png16_rgba.png", 6, 4), ("png16_la.png", 4, 2)):
        a = rs.randint(0, 65536, (h, w, ch)).astype(">u2")
        a[0, 0, :] = 0x80FF  # rounding (0x81) and high byte (0x80) differ here
        write(name, png_bytes(w, h, ct, 16, rows_unfiltered([r.tobytes() for r in a])))
    # 8-bit variants written by PIL itself.
    rgb = rs.randint(0, 256, (h, w, 3)).astype(np.uint8)
    Image.fromarray(rgb).quantize(colors=37).save(os.path.join(HERE, "png_palette.png"))
    p = Image.fromarray(rgb).quantize(colors=19)
    p.info["transparency"] = bytes(rs.randint(0, 256, 19).astype(np.uint8))
    p.save(os.path.join(HERE, "png_palette_trns.png"), transparency=p.info["transparency"])
    la = rs.randint(0, 256, (h, w, 2)).astype(np.uint8)
    Image.fromarray(la, "LA").save(os.path.join(HERE, "png_la8.png"))
    gray = rs.randint(0, 256, (h, w)).astype(np.uint8)
    Image.fromarray(gray, "L").save(os.path.join(HERE, "png_gray_trns.png"), transparency=int(gray[0, 0]))
    Image.fromarray(rgb).save(os.path.join(HERE, "png_rgb_trns.png"), transparency=tuple(int(v) for v in rgb[0, 0]))
    # Low bit depths (PIL: "1" for 1-bit, "L;2"/"L;4" scaled to 0..255).
    for bits in (1, 2, 4):
        vals = rs.randint(0, 1 << bits, (h, w))
        per = 8 // bits
        rows = []
        for r in vals:
            padded = np.concatenate([r, np.zeros((-len(r)) % per, dtype=r.dtype)])
            packed = bytearray()
            for i in range(0, len(padded), per):
                byte = 0
                for j in range(per):
                    byte = (byte << bits) | int(padded[i + j])
                packed.append(byte)
            rows.append(bytes(packed))
        write(f"png_gray{bits}.png", png_bytes(w, h, 0, bits, rows_unfiltered(rows)))
    # Adam7 interlaced RGB.
    write("png_adam7.png", png_bytes(w, h, 2, 8, adam7_rows(rgb), interlace=1))
    # Seeded noise for the resampler (every pixel independent: any indexing error shows).
    Image.fromarray(rs.randint(0, 256, (29, 41, 3)).astype(np.uint8)).save(os.path.join(HERE, "noise_rgb.png"))
    Image.fromarray(rs.randint(0, 256, (23, 37)).astype(np.uint8), "L").save(os.path.join(HERE, "noise_l.png"))
    # EXIF orientations 1..8 on an asymmetric 12x8 picture (PNG eXIf chunk: lossless; JPEG q95 4:4:4).
    pic = np.zeros((8, 12, 3), np.uint8)
    for y in range(8):
        for x in range(12):
            pic[y, x] = (x * 21, y * 32, 255 if (x < 3 and y < 2) else 40 * ((x + y) % 3))
    for o in range(1, 9):
        ex = Image.Exif()
        ex[0x0112] = o
        Image.fromarray(pic).save(os.path.join(HERE, f"orient_{o}.png"), exif=ex.tobytes())
        big = np.kron(pic, np.ones((4, 4, 1), np.uint8))  # 32x48, flat 4x4 blocks: JPEG stays close
        Image.fromarray(big).save(os.path.join(HERE, f"orient_{o}.jpg"), exif=ex.tobytes(), quality=95, subsampling=0)
    # Formats we refuse (real files written by PIL).
    small = Image.fromarray(rgb[:4, :5])
    small.save(os.path.join(HERE, "refuse.gif"))
    small.save(os.path.join(HERE, "refuse.bmp"))
    small.save(os.path.join(HERE, "refuse.webp"))
    small.save(os.path.join(HERE, "refuse.tiff"))


# ---------------------------------------------------------------- references
def b64z(a):
    return base64.b64encode(zlib.compress(np.ascontiguousarray(a).tobytes(), 9)).decode("ascii")


def run_pipeline(path, color, resize, crop, mean, std, exif):
    with open(path, "rb") as f:
        img = Image.open(f)
        img.load()
        if exif:
            img = ImageOps.exif_transpose(img)
        img = img.convert(color)
    tf = []
    if resize is not None:
        tf.append(T.Resize(resize[0] if len(resize) == 1 else tuple(resize)))
    if crop is not None:
        tf.append(T.CenterCrop(tuple(crop)))
    pil = T.Compose(tf)(img) if tf else img
    u8 = np.asarray(pil)
    if u8.ndim == 2:
        u8 = u8[:, :, None]
    x = T.ToTensor()(pil)
    if mean is not None:
        x = T.Normalize(mean, std)(x)
    return u8, x.numpy().astype("<f4")


def case(name, source, color="RGB", resize=None, crop=None, mean=None, std=None, exif=False, exact=True, full=True, stride=4):
    """One reference. full: every uint8 value ("u8"); otherwise every stride-th row and column ("u8_sample").
    "u8_sha256" and "tensor_sha256" cover every value in both cases, so exact cases stay exact checks."""
    kind, rel = source.split(":", 1)
    path = os.path.join(SHARED, rel) if kind == "shared" else os.path.join(HERE, rel)
    u8, x = run_pipeline(path, color, resize, crop, mean, std, exif)
    h, w, c = u8.shape
    rs = np.random.RandomState(len(name))
    idx = [(int(rs.randint(c)), int(rs.randint(h)), int(rs.randint(w))) for _ in range(16)]
    d = dict(name=name, input=source, color=color, resize=resize, crop=crop, mean=mean, std=std, exif=exif,
             exact=exact, height=h, width=w, channels=c,
             u8_sha256=hashlib.sha256(np.ascontiguousarray(u8).tobytes()).hexdigest(),
             tensor_sha256=hashlib.sha256(x.tobytes()).hexdigest(),
             tensor_samples=[[ci, yi, xi, float(np.format_float_positional(x[ci, yi, xi], unique=True))] for ci, yi, xi in idx])
    if full:
        d["u8"] = b64z(u8)
    else:
        d["sample_stride"] = stride
        d["u8_sample"] = b64z(u8[::stride, ::stride, :])
    return d


def main():
    check_pil_facts()
    make_inputs()
    cases = []
    jpegs = ["kitten.jpg", "dog.jpg", "Cat.jpg", "Dog1.jpg", "app13-multiple.jpg", "flower.jpg", "hopper.jpg",
             "hopper_gray.jpg", "pil_sample_cmyk.jpg", "hopper_orientation_6.jpg"]
    pngs = ["hopper.png", "transparent.png"]
    # ImageNet pipeline (torchvision VGG weights): Resize(256), CenterCrop(224), Normalize.
    for f in pngs:
        cases.append(case(f"imagenet/{f}", f"shared:images/{f}", resize=[256], crop=[224, 224],
                          mean=IMAGENET_MEAN, std=IMAGENET_STD, full=False, stride=2))
    for f in jpegs:
        cases.append(case(f"imagenet/{f}", f"shared:images/{f}", resize=[256], crop=[224, 224],
                          mean=IMAGENET_MEAN, std=IMAGENET_STD, exact=False, full=False))
    # TinyVGG: Resize((64, 64)), ToTensor, no normalization. Full uint8 for every image (64x64 is small).
    for f in pngs + jpegs:
        keep_all = f in pngs or f == "kitten.jpg"
        cases.append(case(f"tinyvgg/{f}", f"shared:images/{f}", resize=[64, 64], exact=f in pngs,
                          full=keep_all, stride=2))
    # MNIST: grayscale 28x28, Normalize((0.1307,), (0.3081,)).
    for d in range(7):
        cases.append(case(f"mnist/{d}.png", f"shared:images/mnist/{d}.png", color="L", resize=[28, 28],
                          mean=[0.1307], std=[0.3081]))
    # Grayscale from colour (PIL's L24) followed by a resize, and a grayscale JPEG kept as L.
    cases.append(case("gray/hopper.png", "shared:images/hopper.png", color="L", resize=[40]))
    cases.append(case("gray/transparent.png", "shared:images/transparent.png", color="L", resize=[33, 47]))
    cases.append(case("gray/hopper_gray.jpg", "shared:images/hopper_gray.jpg", color="L", exact=False, full=False, stride=2))
    cases.append(case("gray/pil_sample_cmyk.jpg", "shared:images/pil_sample_cmyk.jpg", color="L", exact=False))
    # CenterCrop larger than the image: torchvision pads with 0 first (odd padding puts the extra row/column last).
    # (imagenet/transparent.png covers round(): 200x150 -> 341x256, crop left = round(58.5) = 58.)
    cases.append(case("crop/pad_both", "fixture:noise_rgb.png", crop=[35, 50], mean=IMAGENET_MEAN, std=IMAGENET_STD))
    cases.append(case("crop/pad_width_crop_height", "fixture:noise_rgb.png", crop=[20, 50]))
    cases.append(case("crop/pad_height_crop_width", "fixture:noise_rgb.png", crop=[34, 8]))
    cases.append(case("crop/odd", "fixture:noise_rgb.png", crop=[10, 7]))
    cases.append(case("crop/after_resize", "fixture:noise_rgb.png", resize=[30], crop=[25, 25]))
    # The resampler on noise, every kind of scale.
    for r in ([13, 9], [60, 50], [29, 10], [10, 41], [1, 1], [300, 7], [17], [40], [3, 5], [29, 41]):
        cases.append(case("resize/noise_rgb_" + "x".join(map(str, r)), "fixture:noise_rgb.png", resize=r))
    rs = np.random.RandomState(99)  # seeded random target sizes, 1..80 on each axis (exact: SHA-256 covers all)
    for _ in range(24):
        r = [int(rs.randint(1, 81)), int(rs.randint(1, 81))]
        cases.append(case("resize/noise_rgb_rand_" + "x".join(map(str, r)), "fixture:noise_rgb.png", resize=r,
                          full=False, stride=4))
    for r in ([11, 50], [20], [5, 3]):
        cases.append(case("resize/noise_l_" + "x".join(map(str, r)), "fixture:noise_l.png", color="L", resize=r))
    # PNG variants: decoded pixels as PIL converts them to RGB and to L.
    for f in ["png16_gray.png", "png16_rgb.png", "png16_rgba.png", "png16_la.png", "png_palette.png",
              "png_palette_trns.png", "png_la8.png", "png_gray_trns.png", "png_rgb_trns.png", "png_gray1.png",
              "png_gray2.png", "png_gray4.png", "png_adam7.png", "noise_rgb.png"]:
        cases.append(case(f"decode_rgb/{f}", f"fixture:{f}"))
        cases.append(case(f"decode_l/{f}", f"fixture:{f}", color="L"))
    # JPEG decoding alone (no resize): CMYK, progressive, grayscale to RGB, 4:4:4 baseline.
    cases.append(case("decode_rgb/pil_sample_cmyk.jpg", "shared:images/pil_sample_cmyk.jpg", exact=False, full=False, stride=2))
    cases.append(case("decode_rgb/app13-multiple.jpg", "shared:images/app13-multiple.jpg", exact=False, full=False, stride=4))
    cases.append(case("decode_rgb/hopper_gray.jpg", "shared:images/hopper_gray.jpg", exact=False, full=False, stride=2))
    cases.append(case("decode_rgb/dog.jpg", "shared:images/dog.jpg", exact=False, full=False, stride=8))
    # EXIF orientation (ImageOps.exif_transpose): PNG exact, JPEG within tolerance; also off = stored pixels.
    for o in range(1, 9):
        cases.append(case(f"exif/orient_{o}.png", f"fixture:orient_{o}.png", exif=True))
        cases.append(case(f"exif/orient_{o}.jpg", f"fixture:orient_{o}.jpg", exif=True, exact=False))
    cases.append(case("exif_off/orient_6.png", "fixture:orient_6.png", exif=False))
    cases.append(case("exif/hopper_orientation_6.jpg", "shared:images/hopper_orientation_6.jpg", exif=True, exact=False,
                      full=False, stride=2))

    meta = dict(pillow=PIL.__version__, torchvision=torchvision.__version__, torch=torch.__version__,
                numpy=np.__version__, script=os.path.basename(__file__), cases=cases)
    compact = dict(separators=(",", ":"))
    head = {k: v for k, v in meta.items() if k != "cases"}
    with open(os.path.join(HERE, "references.json"), "w") as f:  # one case per line
        f.write(json.dumps(head, **compact)[:-1] + ',"cases":[\n')
        f.write(",\n".join(json.dumps(c, **compact) for c in cases))
        f.write("\n]}\n")
    total = sum(os.path.getsize(os.path.join(HERE, n)) for n in os.listdir(HERE))
    print(f"{len(cases)} cases; folder size {total} bytes")


if __name__ == "__main__":
    main()
