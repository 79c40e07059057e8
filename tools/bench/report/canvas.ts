import { glyph, GLYPH_HEIGHT, GLYPH_WIDTH } from './font';
import { encodePng } from './png';

export type Rgb = readonly [number, number, number];

/** An RGBA bitmap with rectangles and bitmap text: enough for a bar chart. */
export class Canvas {
  private readonly pixels: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb,
  ) {
    this.pixels = new Uint8Array(width * height * 4);
    this.rect(0, 0, width, height, background);
  }

  rect(x: number, y: number, w: number, h: number, [r, g, b]: Rgb): void {
    const x0 = Math.max(0, Math.round(x));
    const y0 = Math.max(0, Math.round(y));
    const x1 = Math.min(this.width, Math.round(x + w));
    const y1 = Math.min(this.height, Math.round(y + h));
    for (let yy = y0; yy < y1; yy++) {
      for (let xx = x0; xx < x1; xx++) this.pixels.set([r, g, b, 255], (yy * this.width + xx) * 4);
    }
  }

  static textWidth(text: string, scale: number): number {
    return text.length * (GLYPH_WIDTH + 1) * scale;
  }

  static readonly lineHeight = (scale: number) => (GLYPH_HEIGHT + 3) * scale;

  text(x: number, y: number, text: string, color: Rgb, scale = 2): void {
    [...text].forEach((char, i) => {
      for (const [gx, gy] of glyph(char)) this.rect(x + (i * (GLYPH_WIDTH + 1) + gx) * scale, y + gy * scale, scale, scale, color);
    });
  }

  png(): Buffer {
    return encodePng(this.width, this.height, this.pixels);
  }
}
