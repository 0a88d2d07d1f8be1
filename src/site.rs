//! The site as served: content loaded and validated, assets fingerprinted, and every
//! anonymous page rendered once at start-up.

use crate::articles::Pages;
use crate::assets::Assets;
use crate::config::SiteArgs;
use crate::content::{self, ContentErrors, Library};
use crate::layout::Layout;
use crate::search::{self, SearchIndex};

/// How many "Related articles" an article page lists.
const RELATED_ARTICLES: usize = 4;

pub struct Site {
    pub library: Library,
    pub assets: Assets,
    pub layout: Layout,
    pub pages: Pages,
    pub search: SearchIndex,
}

#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("{0}")]
    Content(#[from] ContentErrors),
    #[error("{0}")]
    Assets(#[from] std::io::Error),
    #[error("rendering pages: {0}")]
    Render(#[from] askama::Error),
    #[error("building the search index: {0}")]
    Search(#[from] tantivy::TantivyError),
}

impl Site {
    pub fn build(args: &SiteArgs) -> Result<Site, BuildError> {
        let library = content::load(&args.content)?;
        let assets = Assets::scan(&args.static_dir)?;
        let layout = Layout::new(&assets, args.base_url());
        let search = SearchIndex::build(&library.articles, &library.vocabulary)?;
        let related = search::related::related(&library, RELATED_ARTICLES);
        let pages = Pages::render(&library, &layout, &related)?;
        Ok(Site {
            library,
            assets,
            layout,
            pages,
            search,
        })
    }
}
