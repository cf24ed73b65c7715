"""空间地理要素 (spatial features): valid geometry inside the city, one feature per layer and key."""

from __future__ import annotations

from basebases.models import SpatialFeature, table_of
from quality.suites import CITY_BOUNDARY, Kind, Rule, Suite, not_null

SPATIAL_FEATURES = Suite(
    resource="spatial_features",
    table=table_of(SpatialFeature),
    key=("layer_code", "feature_key"),
    description="空间地理要素: geometry valid and inside the city, unique per layer",
    rules=(
        *not_null("layer_code", "feature_key", "geom"),
        Rule("feature_key.unique_in_layer", Kind.compound_unique, ("layer_code", "feature_key"),
             "one feature per layer and feature key", on="feature_key"),
        Rule("geom.valid", Kind.geometry_valid, ("geom",), "the geometry is valid"),
        Rule("geom.inside_city", Kind.inside_city, ("geom",), "the geometry lies inside the city",
             {"boundary_wkt": CITY_BOUNDARY}),
        Rule("region_code.gbt2260", Kind.gbt2260, ("region_code",), "region_code is a GB/T 2260 code",
             {"current_only": False}),
    ),
)

SUITES = (SPATIAL_FEATURES,)
