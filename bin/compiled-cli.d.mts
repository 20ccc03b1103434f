// Types of bin/compiled-cli.mjs (plain JavaScript, run before any TypeScript loader).
export declare const ROOT: string;
export declare function compiledPaths(root?: string): {
  src: string;
  dir: string;
  listing: string;
  main: string;
};
export declare function sourceListing(srcDir: string): string;
export declare function compiledMainIfCurrent(root?: string): string | null;
