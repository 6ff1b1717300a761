// The version `reg --version` prints: @reg/core's package.json version (a test keeps them equal),
// a constant so that printing it reads no file.

export const REG_VERSION = '0.1.0';
