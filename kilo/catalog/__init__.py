"""The model and provider catalogue: an OpenRouter snapshot, its import, and its filters.

- `parse`: the OpenRouter file formats, checked (nothing there writes); `SERVING_PROVIDERS`.
- `importer`: the operator-only `import_catalog`, `import_snapshot` and the start-up
  `load_shipped_if_empty` (the snapshot shipped in data/catalog/, see its SOURCES.md).
- `query`: the catalogue's providers and models, the Model Access tab's rows and filters.

The names below are the package's public interface (`catalog.import_catalog(...)` and so on).
"""

from kilo.catalog.importer import (
    CATALOG_DIR,
    STARTUP_ACTOR,
    ImportResult,
    import_catalog,
    import_snapshot,
    load_shipped_if_empty,
)
from kilo.catalog.parse import (
    MILLION,
    PRICE_PLACES,
    SERVING_PROVIDERS,
    parse_models,
    parse_policies,
    parse_providers,
    price_per_mtok,
    serving_providers,
)
from kilo.catalog.query import (
    ANY,
    CatalogFilter,
    ModelRow,
    ProviderRow,
    filter_models,
    filter_providers,
    list_models,
    list_providers,
    price_label,
    provider_matches_policy,
)

__all__ = [
    "ANY",
    "CATALOG_DIR",
    "MILLION",
    "PRICE_PLACES",
    "SERVING_PROVIDERS",
    "STARTUP_ACTOR",
    "CatalogFilter",
    "ImportResult",
    "ModelRow",
    "ProviderRow",
    "filter_models",
    "filter_providers",
    "import_catalog",
    "import_snapshot",
    "list_models",
    "list_providers",
    "load_shipped_if_empty",
    "parse_models",
    "parse_policies",
    "parse_providers",
    "price_per_mtok",
    "price_label",
    "provider_matches_policy",
    "serving_providers",
]
