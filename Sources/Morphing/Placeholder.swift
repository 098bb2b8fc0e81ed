// Placeholder until the morphing module lands; replaced by its first real file.
