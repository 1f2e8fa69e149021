/** ${{ params.description }}. */
/** The separator slugify() puts between words. */
export declare const SEPARATOR: string;
/** Lower-case words of `text` joined by SEPARATOR; anything but letters and digits separates words. */
export declare function slugify(text: string): string;
/** `items` cut into lists of `size` (the last one may be shorter). */
export declare function chunk<T>(items: readonly T[], size: number): T[][];
