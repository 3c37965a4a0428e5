"""The three credentials files (the venue's client key file, the REST adapter's API keys, the FIX adapter's
users) refuse every malformed file with their package's configuration error naming the file, never a
traceback: one reader (gateway/config.py read_tables) and each file's own field rules."""
from __future__ import annotations

import pytest
from kabuto.adapters.fix.errors import ConfigError as FixConfigError
from kabuto.adapters.fix.users import load_users
from kabuto.adapters.rest.apikeys import load_api_keys
from kabuto.adapters.rest.errors import ConfigError as RestConfigError
from kabuto.gateway.errors import ConfigError as GatewayConfigError
from kabuto.gateway.keys import load_key_file

LOADERS = [(load_key_file, GatewayConfigError, "client", 'account = "mm1"\npublic_key = "x"'),
           (load_api_keys, RestConfigError, "api_key", 'key = "k"\nsecret = ""\naccount = "mm1"'),
           (load_users, FixConfigError, "user", 'sender_comp_id = "MM1"\npassword = "p"\naccount = "bad name"')]
FILES = {
    "not TOML": "[[x",
    "another top-level key": "colour = 1\n",
    "the table is not an array of tables": "{table} = 1\n",
    "an entry is not a table": "{table} = [1, 2]\n",
    "an entry breaks the file's own rules": "[[{table}]]\n{bad}\n",
}


@pytest.mark.parametrize("loader,error,table,bad", LOADERS, ids=["key file", "API keys", "FIX users"])
@pytest.mark.parametrize("case", list(FILES))
def test_a_malformed_credentials_file_is_a_configuration_error_naming_it(tmp_path, loader, error, table, bad, case):
    path = tmp_path / "creds.toml"
    path.write_text(FILES[case].format(table=table, bad=bad))
    with pytest.raises(error, match="creds.toml"):
        loader(path)


@pytest.mark.parametrize("loader,error", [(x[0], x[1]) for x in LOADERS], ids=["key file", "API keys", "FIX users"])
def test_a_missing_credentials_file_is_a_configuration_error(tmp_path, loader, error):
    with pytest.raises(error, match="cannot read"):
        loader(tmp_path / "absent.toml")
