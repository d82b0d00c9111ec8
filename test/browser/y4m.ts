/** Write RGB pixels as a tiny Y4M video (YUV 4:2:0, BT.601 full range) for Chromium's fake camera. */
export function rgbToY4m(rgb: Uint8Array, width: number, height: number, frames = 2, fps = 10): Buffer {
  if (width % 2 || height % 2) throw new Error('Y4M 4:2:0 needs even width and height');
  const ySize = width * height;
  const cSize = (width / 2) * (height / 2);
  const y = new Uint8Array(ySize);
  const u = new Uint8Array(cSize);
  const v = new Uint8Array(cSize);
  const clamp = (x: number) => (x < 0 ? 0 : x > 255 ? 255 : Math.round(x));
  for (let i = 0; i < ySize; i++) {
    const r = rgb[i * 3]!,
      g = rgb[i * 3 + 1]!,
      b = rgb[i * 3 + 2]!;
    y[i] = clamp(0.299 * r + 0.587 * g + 0.114 * b);
  }
  for (let cy = 0; cy < height / 2; cy++) {
    for (let cx = 0; cx < width / 2; cx++) {
      let r = 0,
        g = 0,
        b = 0;
      for (const [dx, dy] of [
        [0, 0],
        [1, 0],
        [0, 1],
        [1, 1],
      ] as const) {
        const i = (cy * 2 + dy) * width + cx * 2 + dx;
        r += rgb[i * 3]!;
        g += rgb[i * 3 + 1]!;
        b += rgb[i * 3 + 2]!;
      }
      r /= 4;
      g /= 4;
      b /= 4;
      const j = cy * (width / 2) + cx;
      u[j] = clamp(128 - 0.168736 * r - 0.331264 * g + 0.5 * b);
      v[j] = clamp(128 + 0.5 * r - 0.418688 * g - 0.081312 * b);
    }
  }
  const header = Buffer.from(`YUV4MPEG2 W${width} H${height} F${fps}:1 Ip A1:1 C420jpeg\n`);
  const frame = Buffer.concat([Buffer.from('FRAME\n'), y, u, v]);
  return Buffer.concat([header, ...Array.from({ length: frames }, () => frame)]);
}
