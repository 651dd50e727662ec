import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

/**
 * The portal (issue 12). `npm run portal:build` writes portal/dist, which the server serves at `/`;
 * `npm run portal:dev` serves it with hot reload on :5173 and proxies the API to the server on :3000.
 */
export default defineConfig({
  root: import.meta.dirname,
  plugins: [react()],
  build: { outDir: 'dist', emptyOutDir: true, sourcemap: false, chunkSizeWarningLimit: 900 },
  server: {
    port: 5173,
    proxy: { '/api': 'http://localhost:3000', '/.well-known': 'http://localhost:3000' },
  },
});
