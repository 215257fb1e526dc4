#!/usr/bin/env python3
"""Writes the tiny real-data fixtures beside this file (run from anywhere; needs only Python's
standard library and cjpeg/djpeg from libjpeg-turbo-progs):

    pascal/   PASCAL-Context in MTLoRA's PASCAL_MT layout: JPEG images (one grey, one
              progressive), palette semseg, grey human parts / saliency, RGB normals
    nyud/     NYUD-v2 in MTLoRA's NYUD_MT layout: JPEG images, grey segmentation, .npy depth
              and normals
    damaged/  a truncated JPEG, a PNG with a byte of its image data flipped, a PNG cut short, a text file named .jpg
    reference/2008_000002.ppm   djpeg's decode of pascal/JPEGImages/2008_000002.jpg

PNGs are written here with zlib, not libpng, so the tests read files no code of ours wrote.
Every image is W x H = 16 x 12. Regenerating gives the same bytes.
"""
import os
import struct
import subprocess
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
W, H = 16, 12


def path(*parts):
    p = os.path.join(HERE, *parts)
    os.makedirs(os.path.dirname(p), exist_ok=True)
    return p


def chunk(kind, body):
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def png(rows, colour_type, channels, palette=None, depth=8):
    """rows: one bytes-like per row, already packed at `depth`."""
    raw = b"".join(b"\x00" + bytes(r) for r in rows)
    out = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", W, H, depth, colour_type, 0, 0, 0))
    if palette is not None:
        out += chunk(b"PLTE", bytes(palette))
    return out + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b"")


def write(name, data):
    with open(path(*name.split("/")), "wb") as f:
        f.write(data)


def npy(shape, values):
    header = "{'descr': '<f4', 'fortran_order': False, 'shape': (%s), }" % "".join(f"{s}, " for s in shape).rstrip(" ")
    header += " " * ((64 - (10 + len(header) + 1) % 64) % 64) + "\n"
    return b"\x93NUMPY\x01\x00" + struct.pack("<H", len(header)) + header.encode() + struct.pack(f"<{len(values)}f", *values)


def inside(x, y, seed):
    """The 'object': a box that moves with the image's seed."""
    return 3 + seed <= x < 10 + seed and 2 <= y < 9


def rgb_pixels(seed):
    """A smooth background with a red box: JPEG keeps it within a few levels."""
    out = []
    for y in range(H):
        for x in range(W):
            if inside(x, y, seed):
                out += [200, 40, 40]
            else:
                out += [40 + 10 * x, 60 + 8 * y, 150]
    return out


def jpeg(name, pixels, *options):
    ppm = b"P6\n%d %d\n255\n" % (W, H) + bytes(pixels)
    data = subprocess.run(["cjpeg", "-quality", "95", *options], input=ppm, capture_output=True, check=True).stdout
    write(name, data)
    return data


def voc_palette():
    palette = []
    for label in range(256):
        r = g = b = 0
        c = label
        for shift in range(7, -1, -1):
            r |= (c & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        palette += [r, g, b]
    return palette


def pascal():
    write("pascal/ImageSets/Context/train.txt", b"2008_000002\n2008_000003\n")
    write("pascal/ImageSets/Context/val.txt", b"2008_000007\n")
    for seed, (image, options) in enumerate([("2008_000002", ()), ("2008_000003", ("-grayscale",)),
                                             ("2008_000007", ("-progressive",))]):
        data = jpeg(f"pascal/JPEGImages/{image}.jpg", rgb_pixels(seed), *options)
        if image == "2008_000002":
            ppm = subprocess.run(["djpeg", "-ppm"], input=data, capture_output=True, check=True).stdout
            write(f"reference/{image}.ppm", ppm)
        # Semseg: person (15) in the box, background 0, the box's border row unlabelled (255).
        semseg = [[255 if inside(x, y, seed) and y == 8 else 15 if inside(x, y, seed) else 0 for x in range(W)]
                  for y in range(H)]
        write(f"pascal/semseg/VOC12/{image}.png", png(semseg, 3, 1, palette=voc_palette()))
        # Saliency: the box, as the distilled maps store it (grey 0 / 255).
        write(f"pascal/sal_distill/{image}.png",
              png([[255 if inside(x, y, seed) else 0 for x in range(W)] for y in range(H)], 0, 1))
        # Normals: the box faces the camera (128, 128, 255), the background faces right.
        normals = [sum(([128, 128, 255] if inside(x, y, seed) else [255, 128, 128] for x in range(W)), [])
                   for y in range(H)]
        write(f"pascal/normals_distill/{image}.png", png(normals, 2, 3))
        # Human parts only where there is a person in the parts annotation: the first image.
        if seed == 0:
            parts = [[(1 if y < 4 else 2 if y < 6 else 5) if inside(x, y, seed) else 0 for x in range(W)]
                     for y in range(H)]
            write(f"pascal/human_parts/{image}.png", png(parts, 0, 1))


def nyud():
    write("nyud/gt_sets/train.txt", b"0003\n0004\n")
    write("nyud/gt_sets/val.txt", b"0001\n")
    for seed, image in enumerate(["0003", "0004", "0001"]):
        jpeg(f"nyud/images/{image}.jpg", rgb_pixels(seed))
        # 40 classes stored 1...40, 0 unlabelled: the box is a table (7), the rest wall (1), the
        # last row unlabelled.
        labels = [[0 if y == H - 1 else 7 if inside(x, y, seed) else 1 for x in range(W)] for y in range(H)]
        write(f"nyud/segmentation/{image}.png", png(labels, 0, 1))
        depth = [0.0 if y == H - 1 else (1.5 if inside(x, y, seed) else 3.0 + 0.1 * x) for y in range(H) for x in range(W)]
        write(f"nyud/depth/{image}.npy", npy((H, W), depth))
        normals = []
        for y in range(H):
            for x in range(W):
                normals += [0.0, 0.0, 0.0] if y == H - 1 else [0.0, 0.0, 1.0] if inside(x, y, seed) else [0.0, 1.0, 0.0]
        write(f"nyud/normals/{image}.npy", npy((H, W, 3), normals))


def damaged():
    whole = open(path("pascal", "JPEGImages", "2008_000007.jpg"), "rb").read()
    write("damaged/truncated.jpg", whole[: len(whole) * 2 // 3])
    saliency = bytearray(open(path("pascal", "sal_distill", "2008_000002.png"), "rb").read())
    write("damaged/truncated.png", bytes(saliency[: len(saliency) - 30]))
    saliency[45] ^= 0xFF  # inside IDAT: zlib and the CRC both fail
    write("damaged/corrupt.png", bytes(saliency))
    write("damaged/not-an-image.jpg", b"<html>404 Not Found</html>\n")


pascal()
nyud()
damaged()
