"""The Review tab: ranked label issues, label chips, saliency overlays."""
