"""Where labelled images come from and how they reach a batch: label folders, CSV, labels, the split, images, cache, loaders, augmentation, audit, the demo set, the data-folder lock."""
