"""The demo workspace (demo/.aios) works with the service, and the JSON schema matches the validator."""

import json
import os
import unittest

from aios_service import config
from tests.support import InProcess, PYTHON_DIR

REPO = os.path.dirname(PYTHON_DIR)
DEMO = os.path.join(REPO, "demo", ".aios")
TEXT = ("The lighthouse keeper lit the lamp every evening. Ships trusted the lighthouse light. "
        "A machine arrived and counted the ships and the wind. The keeper and the machine kept the light together. "
        "Cats are unrelated.")


@unittest.skipUnless(os.path.isdir(DEMO), "demo/.aios is not present")
class DemoTest(unittest.TestCase):
    def setUp(self):
        self.host = InProcess()
        self.c = self.host.client

    def tearDown(self):
        self.host.close()

    def test_demo_config_and_handlers(self):
        self.c.initialize(configFile=os.path.join(DEMO, "config.json"),
                          handlersModule=os.path.join(DEMO, "handlers.py"), workspaceFolder=os.path.dirname(DEMO))
        health = self.c.result("aios/health")
        self.assertIsNone(health["handlers"]["error"])
        self.assertEqual(health["handlers"]["commandTypes"], ["SUMMARIZE", "WORD_COUNT"])
        self.assertEqual(health["loggers"], {"aios_handlers": "DEBUG"})
        summary = self.c.result("aios/execute", {"commandType": "SUMMARIZE",
                                                 "parameters": {"text": TEXT, "sentences": 2}})["result"]
        self.assertEqual((summary["sentences"], summary["kept"]), (5, 2))
        self.assertNotIn("Cats", summary["summary"])
        self.assertIn("lighthouse", summary["keywords"])
        counts = self.c.result("aios/execute", {"commandType": "WORD_COUNT", "parameters": {"text": TEXT}})["result"]
        self.assertEqual(counts["sentences"], 5)
        self.assertEqual(counts["words"], len(TEXT.split()))
        bad = self.c.request("aios/execute", {"commandType": "SUMMARIZE", "parameters": {"text": ""}})
        self.assertEqual(bad["error"]["code"], -32602)
        warm = self.c.result("aios/control", {"operation": "CUSTOM_COMMAND", "parameters": {"command": "warm_up"}})
        self.assertTrue(warm["state"]["inference"]["modelLoaded"])

        listed = self.c.result("aios/commands")
        types = {c["name"]: c for c in listed["commandTypes"] if c["source"] == "workspace"}
        controls = {c["name"]: c for c in listed["controlCommands"] if c["source"] == "workspace"}
        self.assertEqual(set(types["SUMMARIZE"]["parameters"]), {"text", "sentences"})
        self.assertEqual({name: c["replay"] for name, c in controls.items()},
                         {"set_summary_length": True, "warm_up": False})
        for name, info in types.items():  # the examples run as they stand
            self.assertIn("result", self.c.request("aios/execute", {"commandType": name,
                                                                    "parameters": info["example"]}), name)
        self.c.result("aios/control", {"operation": "CUSTOM_COMMAND", "parameters": {
            "command": "set_summary_length", "arguments": controls["set_summary_length"]["example"]}})
        shorter = self.c.result("aios/execute", {"commandType": "SUMMARIZE", "parameters": {"text": TEXT}})["result"]
        self.assertEqual(shorter["kept"], 2)
        bad = self.c.request("aios/control", {"operation": "CUSTOM_COMMAND", "parameters": {
            "command": "set_summary_length", "arguments": {"sentences": 0}}})
        self.assertEqual(bad["error"]["code"], -32602)


class SchemaTest(unittest.TestCase):
    def test_schema_documents_exactly_the_validated_keys(self):
        with open(os.path.join(PYTHON_DIR, "aios_service", "config.schema.json"), encoding="utf-8") as f:
            schema = json.load(f)
        props = schema["properties"]
        self.assertEqual(set(props) - {"comment"}, set(config.DEFAULTS))
        for key, default in config.DEFAULTS.items():
            if isinstance(default, dict) and key != "loggers":
                self.assertEqual(set(props[key]["properties"]), set(default), key)
                for sub, value in default.items():
                    self.assertEqual(props[key]["properties"][sub]["default"], value, key + "." + sub)
            else:
                self.assertEqual(props[key]["default"], default, key)
