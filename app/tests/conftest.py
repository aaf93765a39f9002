import sys
from pathlib import Path

# The app is deployed as a plain directory on the host's PYTHONPATH; tests import it the same way.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
