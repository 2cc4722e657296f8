"""What the test suites share: polling and skip-or-fail helpers, the end-to-end
helpers, the object factories and the validation cases. Test modules and conftest.py
files import from here (or from hack/), never from each other."""
