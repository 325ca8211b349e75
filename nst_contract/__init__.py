"""The contract between the engine, the GIMP plug-in and the installer, written once.

Standard library only (Python ≥ 3.9; GIMP's own Python imports it), no torch, PIL,
numpy or gi. The engine's command line is generated from it; the plug-in builds its
requests and reads events with it; the installer's self-check starts the engine with
it exactly as the plug-in does.

- ``options.py``  — every command's options as specs (name, kind, default, choices,
  range, help) and the shared limits and choice lists (MIN_SIDE, QUALITIES, POOLINGS…);
- ``requests.py`` — ``StylizeRequest``, ``VisualizeRequest``, ``Region``;
  ``to_argv``/``from_argv`` and ``build_parser`` (the engine's argparse parser);
- ``events.py``   — the JSON-lines events as dataclasses, ``parse_event``/``typed``,
  ``EXIT_CODES`` and the one ``EngineError``;
- ``process.py``  — the engine's environment and process: start, read events, cancel,
  stop (``engine_env``, ``engine_argv``, ``start_engine``, ``run_engine``, ``outcome``…);
- ``files.py``    — ``sha256_file``: the sha256 a weights file is known by;
- ``calibration.py`` — the engine's calibration cache: its path, and the one validating
  reader (``read_entries``) and atomic writer (``write_entry``) both sides use.
"""
