// The web app talks to the Reg host only over HTTP (proxied by app/api/[...path]) and socket.io
// (directly to the host's port): it never imports the engine.
import type { NextConfig } from 'next';

const config: NextConfig = {
  reactStrictMode: true,
  poweredByHeader: false,
  transpilePackages: ['@reg/protocol'],
};

export default config;
