"""deploy: fresh anvil → deploy → manifest; a second run verifies and sends nothing."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from eth_account import Account
from web3 import Web3

from contracts import load_artifact
from contracts.compile import REPO_ROOT, artifacts_fresh
from deploy.cli import main as cli_main
from deploy.deployer import (
    PARAM_BOUNDS,
    DeployConfig,
    DeployError,
    Manifest,
    Sender,
    contract_at,
    ensure_deployed,
    load_config,
)
from sequencer.devtools.anvil import start_anvil

CONFIG = """
[l1]
force_inclusion_delay = 12
minimum_bond_wei = 5000
bond_wei = 5000

[sequencer]
key_file = "sequencer.key"

[batcher]
address = "{batcher}"

[[rollups]]
id = 901
name = "op-devnet"
format = "opstack"
block_time_ms = 2000
operator = "{operator}"

[[rollups]]
id = 902
name = "nitro-devnet"
format = "nitro"
block_time_ms = 250
"""


@pytest.fixture(scope="module")
def chain():
    with start_anvil(chain_id=31338, timeout=60) as a:
        yield a


@pytest.fixture
def config_file(tmp_path, chain):
    (tmp_path / "sequencer.key").write_text("0x" + chain.accounts[1].key.hex() + "\n")
    path = tmp_path / "deploy.toml"
    path.write_text(CONFIG.format(batcher=chain.accounts[2].address, operator=chain.accounts[3].address))
    return path


def test_artifacts_are_committed_and_fresh():
    assert artifacts_fresh()
    proc = subprocess.run([sys.executable, "-m", "contracts.compile", "--check"], cwd=REPO_ROOT,
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr
    for name in ("RollupRegistry", "SequencerKeys", "SequencerInbox", "SequencerBond"):
        art = load_artifact(name)
        assert art["abi"] and art["bytecode"].startswith("0x") and len(art["deployedBytecode"]) > 100


def test_deploy_then_rerun_is_noop(chain, config_file, tmp_path):
    w3 = Web3(Web3.HTTPProvider(chain.url))
    key = chain.accounts[0].key
    me = Account.from_key(key).address
    manifest_path = tmp_path / "manifest.json"
    config = load_config(config_file)
    manifest, sent = ensure_deployed(w3, key, config, manifest_path)
    # 4 deploys, keys.setInbox, inbox.setBond, poster, 2 rollups, bond deposit
    assert manifest_path.exists() and sent == 10
    data = json.loads(manifest_path.read_text())
    assert data["version"] == 2
    assert data["chain_id"] == 31338 and set(data["contracts"]) == {"RollupRegistry", "SequencerKeys",
                                                                    "SequencerInbox", "SequencerBond"}
    assert [r["id"] for r in data["rollups"]] == [901, 902]
    inbox = contract_at(w3, "SequencerInbox", manifest.address("SequencerInbox"))
    keys = contract_at(w3, "SequencerKeys", manifest.address("SequencerKeys"))
    seq = chain.accounts[1].address
    assert keys.functions.keys().call() == [seq] and keys.functions.canSign(seq, 0, 0).call()
    assert keys.functions.inbox().call() == inbox.address
    assert keys.functions.activationDelay().call() == 10 and keys.functions.challengePeriod().call() == 100
    assert inbox.functions.isPoster(chain.accounts[2].address).call()
    assert inbox.functions.maxOriginLag().call() == 12
    assert inbox.functions.bond().call() == manifest.address("SequencerBond")
    registry = contract_at(w3, "RollupRegistry", manifest.address("RollupRegistry"))
    assert registry.functions.getRollup(901).call()[1] == chain.accounts[3].address
    bond = contract_at(w3, "SequencerBond", manifest.address("SequencerBond"))
    assert bond.functions.bond().call() == 5000 and bond.functions.isSufficient().call()
    assert bond.functions.keys().call() == keys.address and bond.functions.inbox().call() == inbox.address
    assert (bond.functions.minimumBond().call(), bond.functions.reporterShareBps().call(),
            bond.functions.maxReward().call(), bond.functions.withdrawalDelay().call(),
            bond.functions.withdrawalWindow().call(), bond.functions.claimDelay().call()) == \
        (5000, 1000, 10**18, 100, 100, 10)

    nonce, head = w3.eth.get_transaction_count(me), w3.eth.block_number
    again, sent = ensure_deployed(w3, key, config, manifest_path)
    assert sent == 0 and w3.eth.get_transaction_count(me) == nonce and w3.eth.block_number == head
    assert {k: v.address for k, v in again.contracts.items()} == {k: v.address for k, v in manifest.contracts.items()}
    assert manifest_path.read_text() == manifest.to_json()

    # Through the CLI with --rpc-url and a key file: verified, nothing sent.
    key_file = tmp_path / "deployer.key"
    key_file.write_text(key.hex())
    rc = cli_main(["deploy", "--config", str(config_file), "--rpc-url", chain.url, "--key-file", str(key_file),
                   "--manifest", str(manifest_path)])
    assert rc == 0 and w3.eth.get_transaction_count(me) == nonce

    # A new rollup in the config converges with exactly one transaction; addresses stay.
    config_file.write_text(config_file.read_text() + '\n[[rollups]]\nid = 903\nname = "zk"\nformat = "zkevm"\n'
                           'block_time_ms = 1000\n')
    updated, sent = ensure_deployed(w3, key, load_config(config_file), manifest_path)
    assert sent == 1 and registry.functions.isRegistered(903).call()
    assert updated.address("SequencerInbox") == manifest.address("SequencerInbox")
    assert [r["id"] for r in Manifest.load(manifest_path).rollups] == [901, 902, 903]

    # A second signer converges with one addKey (from the inbox's next height, after the activation delay).
    new_key = tmp_path / "sequencer2.key"
    new_key.write_text("0x" + chain.accounts[5].key.hex())
    config_file.write_text(config_file.read_text().replace('key_file = "sequencer.key"', 'key_file = "sequencer2.key"'))
    updated, sent = ensure_deployed(w3, key, load_config(config_file), manifest_path)
    new = chain.accounts[5].address
    assert sent == 1 and keys.functions.keys().call() == [seq, new]
    assert updated.signers == [seq, new] and keys.functions.accountable(new, 0).call()
    assert ensure_deployed(w3, key, load_config(config_file), manifest_path)[1] == 0
    # A retired key cannot come back: the deploy says so instead of sending a transaction that reverts.
    Sender(w3, key).transact(keys.functions.retireKey(new), "retire")
    with pytest.raises(DeployError, match="retired"):
        ensure_deployed(w3, key, load_config(config_file), manifest_path)


def test_manifest_for_another_chain_rejected(config_file, tmp_path):
    with start_anvil(chain_id=31339, timeout=60) as other:
        w3 = Web3(Web3.HTTPProvider(other.url))
        manifest_path = tmp_path / "m.json"
        ensure_deployed(w3, other.accounts[0].key, load_config(config_file), manifest_path)
    with start_anvil(chain_id=31339, timeout=60) as fresh:  # same chain id, but a new chain: no code there
        w3 = Web3(Web3.HTTPProvider(fresh.url))
        with pytest.raises(DeployError, match="no code"):
            ensure_deployed(w3, fresh.accounts[0].key, load_config(config_file), manifest_path)
    with start_anvil(chain_id=31340, timeout=60) as third:
        w3 = Web3(Web3.HTTPProvider(third.url))
        with pytest.raises(DeployError, match="chain"):
            ensure_deployed(w3, third.accounts[0].key, load_config(config_file), manifest_path)


def test_config_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[[rollups]]\nid = 1\nname = "x"\nformat = "cosmos"\nblock_time_ms = 1\n')
    with pytest.raises(DeployError, match="format"):
        load_config(bad)
    bad.write_text('[[rollups]]\nid = 1\nformat = "nitro"\n')
    with pytest.raises(DeployError, match="block_time_ms"):
        load_config(bad)
    assert load_config(Path(REPO_ROOT) / "deploy" / "l1.example.toml").rollups[2].format == "zkevm"


def test_anvil_accounts_and_cleanup():
    with start_anvil(chain_id=31341, timeout=60) as a:
        assert a.url == f"http://127.0.0.1:{a.port}"
        assert [x.lower() for x in a.rpc("eth_accounts")] == [acct.address.lower() for acct in a.accounts]
        assert Account.from_key(a.accounts[0].key).address == "0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266"
        a.mine(3)
        assert int(a.rpc("eth_blockNumber"), 16) == 3
        proc = a.proc
    assert proc.poll() is not None  # the process group was killed on exit


def test_cli_without_rpc_url_starts_local_anvil(config_file):
    proc = subprocess.run([sys.executable, "-m", "deploy.cli", "deploy", "--config", str(config_file), "--exit"],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "started a local anvil at http://127.0.0.1:" in proc.stderr
    manifest = Manifest.from_json(proc.stdout)
    assert manifest.chain_id == 31337 and [r["id"] for r in manifest.rollups] == [901, 902]


def test_rerun_with_changed_l1_settings_is_refused(chain, config_file, tmp_path):
    w3 = Web3(Web3.HTTPProvider(chain.url))
    key = chain.accounts[0].key
    manifest_path = tmp_path / "manifest.json"
    manifest, _ = ensure_deployed(w3, key, load_config(config_file), manifest_path)
    assert manifest.params == DeployConfig(rollups=(), force_inclusion_delay=12, minimum_bond_wei=5000,
                                           bond_wei=5000).params()
    assert {k: manifest.params[k] for k in ("force_inclusion_delay", "reporter_share_bps", "withdrawal_delay",
                                            "bond_wei")} == {"force_inclusion_delay": 12, "reporter_share_bps": 1000,
                                                             "withdrawal_delay": 100, "bond_wei": 5000}
    me = Account.from_key(key).address
    nonce = w3.eth.get_transaction_count(me)
    text = config_file.read_text()
    config_file.write_text(text.replace("force_inclusion_delay = 12\n",
                                        "force_inclusion_delay = 30\nwithdrawal_delay = 7\n"))
    with pytest.raises(DeployError) as err:
        ensure_deployed(w3, key, load_config(config_file), manifest_path)
    msg = str(err.value)
    assert [line.strip() for line in msg.splitlines() if line.startswith("  ")] == [
        "force_inclusion_delay: config has 30, deployed with 12", "withdrawal_delay: config has 7, deployed with 100"]
    assert "fixed" in msg and "new --manifest" in msg
    assert w3.eth.get_transaction_count(me) == nonce
    # a manifest written before bond_wei was recorded is not compared on it
    data = json.loads(manifest_path.read_text())
    del data["params"]["bond_wei"]
    manifest_path.write_text(json.dumps(data))
    config_file.write_text(text.replace("\nbond_wei = 5000", "\nbond_wei = 0"))
    assert ensure_deployed(w3, key, load_config(config_file), manifest_path)[1] == 0
    config_file.write_text(text.replace("\nbond_wei = 5000", "\nbond_wei = 5000\nreporter_share_bps = 100"))
    with pytest.raises(DeployError, match="reporter_share_bps: config has 100, deployed with 1000"):
        ensure_deployed(w3, key, load_config(config_file), manifest_path)


def test_cli_unreachable_rpc_url_is_one_line(config_file, tmp_path):
    from sequencer.devtools.anvil import free_port

    key_file = tmp_path / "deployer.key"
    key_file.write_text("11" * 32)
    url = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run([sys.executable, "-m", "deploy.cli", "deploy", "--config", str(config_file), "--rpc-url",
                           url, "--key-file", str(key_file), "--manifest", str(tmp_path / "m.json")],
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=180, check=False)
    assert proc.returncode == 1
    assert proc.stderr == f"deploy: cannot reach {url}: Connection refused\n", proc.stderr


def test_cli_help_names_the_example_config():
    from deploy import cli

    assert "--config deploy/l1.example.toml" in (cli.__doc__ or "")
    assert (Path(REPO_ROOT) / "deploy" / "l1.example.toml").exists()
    assert "devnet.toml" not in (cli.__doc__ or "")


@pytest.mark.parametrize(("key", "value"), [
    ("reporter_share_bps", 10_000), ("reporter_share_bps", 2001), ("key_challenge_period", 99),
    ("key_activation_delay", 0), ("withdrawal_window", 50_401), ("claim_delay", 9), ("minimum_bond_wei", 0),
    ("max_reward_wei", 0), ("withdrawal_delay", 0),
])
def test_out_of_bounds_parameters_refused_before_sending(tmp_path, key, value):
    cfg = tmp_path / "d.toml"
    cfg.write_text(f'[l1]\n{key} = {value}\n\n[sequencer]\naddress = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8"\n')
    with pytest.raises(DeployError, match=f"{key} = {value}: must be in"):
        load_config(cfg).check()


def test_bond_below_minimum_and_unknown_l1_keys_refused(tmp_path):
    cfg = tmp_path / "d.toml"
    cfg.write_text("[l1]\nminimum_bond_wei = 10\nbond_wei = 9\n")
    with pytest.raises(DeployError, match="bond_wei = 9: must be 0 or at least minimum_bond_wei"):
        load_config(cfg).check()
    cfg.write_text("[l1]\nreporter_share = 10\n")
    with pytest.raises(DeployError, match="unknown key"):
        load_config(cfg)


def test_param_bounds_are_the_contracts(chain):
    """deploy checks the same bounds the constructors enforce (one table, compared with the contracts)."""
    w3 = Web3(Web3.HTTPProvider(chain.url))
    config = DeployConfig(rollups=(), sequencer_address=chain.accounts[1].address)
    manifest, _ = ensure_deployed(w3, chain.accounts[0].key, config, None)
    keys = contract_at(w3, "SequencerKeys", manifest.address("SequencerKeys")).functions
    bond = contract_at(w3, "SequencerBond", manifest.address("SequencerBond")).functions
    assert PARAM_BOUNDS["key_activation_delay"] == (keys.MIN_ACTIVATION_DELAY().call(),
                                                    keys.MAX_ACTIVATION_DELAY().call())
    assert PARAM_BOUNDS["key_challenge_period"] == (keys.MIN_CHALLENGE_PERIOD().call(),
                                                    keys.MAX_CHALLENGE_PERIOD().call())
    assert PARAM_BOUNDS["reporter_share_bps"] == (0, bond.MAX_REPORTER_SHARE_BPS().call())
    assert PARAM_BOUNDS["withdrawal_delay"] == (1, bond.MAX_WITHDRAWAL_DELAY().call())
    assert PARAM_BOUNDS["withdrawal_window"] == (1, bond.MAX_WITHDRAWAL_WINDOW().call())
    assert PARAM_BOUNDS["claim_delay"] == (bond.MIN_CLAIM_DELAY().call(), bond.MAX_CLAIM_DELAY().call())
