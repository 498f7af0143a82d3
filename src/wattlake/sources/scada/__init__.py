"""Wind SCADA: 1-minute turbine data from a source API, 10-minute statistics, a target database.

``client`` (the source API over HTTP), ``parse`` (a day's JSON answer → ``scada_samples``),
``schema`` (tables and names), ``pipeline`` (fetch → bronze → silver → gold → target), ``demo``.
"""
