"""What the paid routes share through ``ApiRoute``: settings under the variables their
capability records name, and a blank key refused with that variable's name."""

from __future__ import annotations

from pathlib import Path

import pytest
from route_requests import shot

from shotlist.errors import ConfigError, ProviderError
from shotlist.providers.ark import ArkProvider
from shotlist.providers.base import JobState, JobStatus
from shotlist.providers.fal import FalProvider
from shotlist.providers.http import ApiRoute
from shotlist.providers.lumenfall import LumenfallProvider
from shotlist.providers.replicate import ReplicateProvider

KEY = "route-key-3c1f:77aa0e"

# route, the variable a user exports, its base-URL variable, the default base URL
ROUTES = [
    (LumenfallProvider, "LUMENFALL_API_KEY", "LUMENFALL_BASE_URL", "https://api.lumenfall.ai/v1"),
    (FalProvider, "FAL_KEY", "FAL_BASE_URL", "https://queue.fal.run"),
    (ArkProvider, "ARK_API_KEY", "ARK_BASE_URL", "https://ark.ap-southeast.bytepluses.com/api/v3"),
    (ReplicateProvider, "REPLICATE_API_TOKEN", "REPLICATE_BASE_URL", "https://api.replicate.com/v1"),
]


@pytest.mark.parametrize(("route", "key_env"), [row[:2] for row in ROUTES])
def test_a_blank_key_is_refused_naming_the_variable(route: type[ApiRoute], key_env: str) -> None:
    with pytest.raises(ConfigError) as caught:
        route("  \n")
    assert str(caught.value) == f"{key_env} is empty: the {route.name} provider needs an API key"


@pytest.mark.parametrize(("route", "key_env", "base_env", "default"), ROUTES)
def test_settings_come_from_the_variables_the_record_names(
    route: type[ApiRoute], key_env: str, base_env: str, default: str
) -> None:
    plain = route.from_env({key_env: f" {KEY} "})
    custom = route.from_env({key_env: KEY, base_env: "http://127.0.0.1:9/v1/"})

    assert plain.base_url == default
    assert repr(custom) == f"{route.__name__}(base_url='http://127.0.0.1:9/v1')"
    assert KEY not in repr(plain) + repr(custom)
    with pytest.raises(ConfigError, match=f"^{base_env} must be an http"):
        route.from_env({key_env: KEY, base_env: "ftp://example.test"})


@pytest.mark.parametrize("route", [row[0] for row in ROUTES])
async def test_a_result_url_that_is_no_url_is_a_retryable_download_error_on_every_route(
    route: type[ApiRoute], tmp_path: Path
) -> None:
    status = JobStatus(JobState.SUCCEEDED, result_url="http://[::1")
    dest = tmp_path / "clip.mp4"
    async with route(KEY, "http://127.0.0.1:9/v1") as session:
        with pytest.raises(ProviderError) as caught:
            await session.fetch(shot(route.name), "job-1", status, dest)
    assert (caught.value.kind, caught.value.retryable) == ("download", True)
    assert "the result URL is not a usable URL" in str(caught.value)
    assert KEY not in str(caught.value)
    assert not dest.exists()
