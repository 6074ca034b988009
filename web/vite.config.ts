import { defineConfig } from "vite";

// The output is committed and embedded in the api binary: it must be small and
// the same bytes for the same sources (content-hashed names, no timestamps).
export default defineConfig({
  base: "/",
  build: {
    outDir: "dist",
    emptyOutDir: true,
    target: "es2022",
    modulePreload: { polyfill: false },
    assetsInlineLimit: 0,
    sourcemap: false,
    reportCompressedSize: true,
  },
});
