// Placeholder so the target builds before its code lands; replaced by the real module.
