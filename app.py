"""Streamlit entry point: `streamlit run app.py [-- --runs DIR --predictions DIR]`."""

from stockformer.dashboard import main

main()
