"""The Evaluate tab: metric tables, precision-recall curves, mistakes gallery."""
