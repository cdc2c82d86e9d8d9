"""Integrations with other frameworks, each behind an optional extra.

* :mod:`asyncsagemaker.integrations.ray`: a callable class for Ray Data's
  ``Dataset.map_batches`` (``pip install asyncsagemaker[ray]``).
* :mod:`asyncsagemaker.integrations.openai`: the OpenAI SDK (and LangChain's
  ``ChatOpenAI``) on SageMaker's OpenAI-compatible route, with a bearer token that
  refreshes itself (``pip install asyncsagemaker[openai]``).
"""
