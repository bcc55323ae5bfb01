"""Data: landmark schemas, dataset readers, synthetic faces, detection, alignment, augmentation."""
